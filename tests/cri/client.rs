//! A blocking face on the CRI gRPC clients (runtime.v1, which containerd
//! 1.6 serves beside v1alpha2 and kubelet 1.26+ requires): every call goes
//! over the daemon's unix socket with a deadline, from any test thread.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::*;
use tonic::transport::{Channel, Endpoint, Uri};

/// No single CRI call of the suite may take longer (kubelet's default
/// runtime request timeout is 2 minutes; ours is shorter so a hang fails
/// the scenario rather than the whole run).
pub const CALL_LIMIT: Duration = Duration::from_secs(60);

pub struct Cri {
    rt: tokio::runtime::Runtime,
    channel: Channel,
}

pub type R<T> = Result<T, tonic::Status>;

impl Cri {
    pub fn connect(sock: &Path) -> Cri {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let sock = sock.to_path_buf();
        let channel = {
            let _guard = rt.enter();
            Endpoint::from_static("http://[::]:0").connect_with_connector_lazy(tower::service_fn(
                move |_: Uri| {
                    let sock = sock.clone();
                    async move {
                        let s = tokio::net::UnixStream::connect(sock).await?;
                        Ok::<_, std::io::Error>(TokioIo::new(s))
                    }
                },
            ))
        };
        Cri { rt, channel }
    }

    fn block<T>(
        &self,
        limit: Duration,
        f: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> R<T> {
        self.rt.block_on(async {
            match tokio::time::timeout(limit, f).await {
                Ok(r) => r.map(|r| r.into_inner()),
                Err(_) => Err(tonic::Status::deadline_exceeded(format!(
                    "no answer within {limit:?}"
                ))),
            }
        })
    }

    fn rs(&self) -> RuntimeServiceClient<Channel> {
        RuntimeServiceClient::new(self.channel.clone())
    }

    fn is(&self) -> ImageServiceClient<Channel> {
        ImageServiceClient::new(self.channel.clone())
    }

    pub fn version(&self) -> R<VersionResponse> {
        self.block(CALL_LIMIT, self.rs().version(VersionRequest::default()))
    }

    pub fn status(&self) -> R<StatusResponse> {
        self.block(
            CALL_LIMIT,
            self.rs().status(StatusRequest { verbose: false }),
        )
    }

    pub fn image_status(&self, image: &str) -> R<ImageStatusResponse> {
        let req = ImageStatusRequest {
            image: Some(ImageSpec {
                image: image.into(),
                ..Default::default()
            }),
            verbose: false,
        };
        self.block(CALL_LIMIT, self.is().image_status(req))
    }

    pub fn run_pod(&self, config: &PodSandboxConfig, handler: &str) -> R<String> {
        let req = RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: handler.into(),
        };
        self.block(CALL_LIMIT, self.rs().run_pod_sandbox(req))
            .map(|r| r.pod_sandbox_id)
    }

    pub fn stop_pod(&self, id: &str) -> R<()> {
        let req = StopPodSandboxRequest {
            pod_sandbox_id: id.into(),
        };
        self.block(CALL_LIMIT, self.rs().stop_pod_sandbox(req))
            .map(|_| ())
    }

    pub fn remove_pod(&self, id: &str) -> R<()> {
        let req = RemovePodSandboxRequest {
            pod_sandbox_id: id.into(),
        };
        self.block(CALL_LIMIT, self.rs().remove_pod_sandbox(req))
            .map(|_| ())
    }

    pub fn pod_status(&self, id: &str, verbose: bool) -> R<PodSandboxStatusResponse> {
        let req = PodSandboxStatusRequest {
            pod_sandbox_id: id.into(),
            verbose,
        };
        self.block(CALL_LIMIT, self.rs().pod_sandbox_status(req))
    }

    pub fn list_pods(&self) -> R<Vec<PodSandbox>> {
        let req = ListPodSandboxRequest { filter: None };
        self.block(CALL_LIMIT, self.rs().list_pod_sandbox(req))
            .map(|r| r.items)
    }

    pub fn create_container(
        &self,
        pod: &str,
        config: &ContainerConfig,
        pod_config: &PodSandboxConfig,
    ) -> R<String> {
        let req = CreateContainerRequest {
            pod_sandbox_id: pod.into(),
            config: Some(config.clone()),
            sandbox_config: Some(pod_config.clone()),
        };
        self.block(CALL_LIMIT, self.rs().create_container(req))
            .map(|r| r.container_id)
    }

    pub fn start_container(&self, id: &str) -> R<()> {
        let req = StartContainerRequest {
            container_id: id.into(),
        };
        self.block(CALL_LIMIT, self.rs().start_container(req))
            .map(|_| ())
    }

    pub fn stop_container(&self, id: &str, timeout: i64) -> R<()> {
        let req = StopContainerRequest {
            container_id: id.into(),
            timeout,
        };
        let limit = CALL_LIMIT + Duration::from_secs(timeout.max(0) as u64);
        self.block(limit, self.rs().stop_container(req)).map(|_| ())
    }

    pub fn remove_container(&self, id: &str) -> R<()> {
        let req = RemoveContainerRequest {
            container_id: id.into(),
        };
        self.block(CALL_LIMIT, self.rs().remove_container(req))
            .map(|_| ())
    }

    pub fn container_status(&self, id: &str) -> R<ContainerStatus> {
        let req = ContainerStatusRequest {
            container_id: id.into(),
            verbose: false,
        };
        self.block(CALL_LIMIT, self.rs().container_status(req))?
            .status
            .ok_or_else(|| tonic::Status::internal("no status in ContainerStatusResponse"))
    }

    pub fn list_containers(&self, pod: &str) -> R<Vec<Container>> {
        let req = ListContainersRequest {
            filter: Some(ContainerFilter {
                pod_sandbox_id: pod.into(),
                ..Default::default()
            }),
        };
        self.block(CALL_LIMIT, self.rs().list_containers(req))
            .map(|r| r.containers)
    }

    pub fn exec_sync(&self, id: &str, cmd: &[&str], timeout: i64) -> R<ExecSyncResponse> {
        let req = ExecSyncRequest {
            container_id: id.into(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            timeout,
        };
        let limit = CALL_LIMIT + Duration::from_secs(timeout.max(0) as u64);
        self.block(limit, self.rs().exec_sync(req))
    }

    pub fn exec(&self, req: ExecRequest) -> R<String> {
        self.block(CALL_LIMIT, self.rs().exec(req)).map(|r| r.url)
    }

    pub fn attach(&self, req: AttachRequest) -> R<String> {
        self.block(CALL_LIMIT, self.rs().attach(req)).map(|r| r.url)
    }

    pub fn container_stats(&self, id: &str) -> R<ContainerStats> {
        let req = ContainerStatsRequest {
            container_id: id.into(),
        };
        self.block(CALL_LIMIT, self.rs().container_stats(req))?
            .stats
            .ok_or_else(|| tonic::Status::internal("no stats in ContainerStatsResponse"))
    }

    pub fn list_container_stats(&self, pod: &str) -> R<Vec<ContainerStats>> {
        let req = ListContainerStatsRequest {
            filter: Some(ContainerStatsFilter {
                pod_sandbox_id: pod.into(),
                ..Default::default()
            }),
        };
        self.block(CALL_LIMIT, self.rs().list_container_stats(req))
            .map(|r| r.stats)
    }

    pub fn update_resources(&self, id: &str, res: LinuxContainerResources) -> R<()> {
        let req = UpdateContainerResourcesRequest {
            container_id: id.into(),
            linux: Some(res),
            ..Default::default()
        };
        self.block(CALL_LIMIT, self.rs().update_container_resources(req))
            .map(|_| ())
    }

    pub fn reopen_log(&self, id: &str) -> R<()> {
        let req = ReopenContainerLogRequest {
            container_id: id.into(),
        };
        self.block(CALL_LIMIT, self.rs().reopen_container_log(req))
            .map(|_| ())
    }
}
