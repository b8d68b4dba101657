//! The CRI streaming server's WebSocket protocol (what kubectl exec/attach
//! reach through the API server and kubelet): the URL from Exec or Attach,
//! upgraded with subprotocol v4.channel.k8s.io; every binary message starts
//! with its channel (0 stdin, 1 stdout, 2 stderr, 3 status as a JSON
//! metav1.Status, 4 resize). Loopback only.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

pub struct Session {
    ws: WebSocket<TcpStream>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The status object from channel 3, once sent.
    pub status: Option<Value>,
    pub closed: bool,
}

impl Session {
    pub fn open(url: &str) -> Session {
        let ws_url = url.replacen("http://", "ws://", 1);
        let mut req = ws_url
            .as_str()
            .into_client_request()
            .expect("streaming URL");
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "v4.channel.k8s.io".parse().expect("header value"),
        );
        let host = req.uri().authority().expect("host:port").to_string();
        let stream = TcpStream::connect(&host).expect("connect to the stream server");
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("read timeout");
        let (ws, _resp) = tungstenite::client(req, stream)
            .unwrap_or_else(|e| panic!("websocket handshake with {url}: {e}"));
        Session {
            ws,
            stdout: Vec::new(),
            stderr: Vec::new(),
            status: None,
            closed: false,
        }
    }

    pub fn send_stdin(&mut self, data: &[u8]) {
        let mut m = vec![0u8];
        m.extend_from_slice(data);
        self.ws
            .send(Message::Binary(m.into()))
            .expect("send on stdin");
    }

    /// Read until `done` holds or the server closes; false on timeout.
    pub fn read_until(&mut self, timeout: Duration, done: impl Fn(&Session) -> bool) -> bool {
        let end = Instant::now() + timeout;
        while !done(self) {
            if self.closed || Instant::now() > end {
                return done(self);
            }
            match self.ws.read() {
                Ok(Message::Binary(b)) if !b.is_empty() => match b[0] {
                    1 => self.stdout.extend_from_slice(&b[1..]),
                    2 => self.stderr.extend_from_slice(&b[1..]),
                    3 if b.len() > 1 => self.status = serde_json::from_slice(&b[1..]).ok(),
                    _ => {}
                },
                Ok(Message::Close(_)) => self.closed = true,
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => self.closed = true,
            }
        }
        true
    }

    /// Read to the end of the session (the server closes after the status).
    pub fn finish(&mut self, timeout: Duration) -> bool {
        self.read_until(timeout, |s| s.closed)
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// The exit code the status reports: 0 for Success, the ExitCode cause
    /// for NonZeroExitCode.
    pub fn exit_code(&self) -> Option<i64> {
        let st = self.status.as_ref()?;
        if st["status"] == "Success" {
            return Some(0);
        }
        st["details"]["causes"]
            .as_array()?
            .iter()
            .find(|c| c["reason"] == "ExitCode")?["message"]
            .as_str()?
            .parse()
            .ok()
    }

    pub fn close(mut self) {
        let _ = self.ws.close(None);
        let _ = self.read_until(Duration::from_secs(1), |s| s.closed);
    }
}
