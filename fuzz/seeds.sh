#!/bin/bash
# Writes the seed corpora into fuzz/corpus/{config,image,layer}/ (not
# committed): small configs derived from tests/common/runc-spec.json, a
# tiny OCI layout as NUL-separated documents, and layers made with GNU tar
# and Python's tarfile. Run from anywhere; needs tar, python3, truncate.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
out=$here/corpus
mkdir -p "$out/config" "$out/image" "$out/layer"

python3 - "$root/tests/common/runc-spec.json" "$out/config" <<'PY'
import copy, json, sys
base = json.load(open(sys.argv[1]))
out = sys.argv[2]
def put(name, spec):
    with open(f"{out}/{name}.json", "w") as f:
        json.dump(spec, f, separators=(",", ":"))
put("runc-spec", base)
s = copy.deepcopy(base)
s["linux"]["resources"] = {
    "memory": {"limit": 1 << 20, "swap": 2 << 20, "swappiness": 10},
    "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0"},
    "pids": {"limit": 64},
    "blockIO": {"weight": 500, "weightDevice": [{"major": 8, "minor": 0, "weight": 100}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1000}]},
    "hugepageLimits": [{"pageSize": "2MB", "limit": 0}, {"pageSize": "1GB", "limit": 0},
                       {"pageSize": "2048kB", "limit": 0}],
    "network": {"classID": 1, "priorities": [{"name": "eth0", "priority": 1}]},
    "unified": {"memory.high": "max"},
    "devices": [{"allow": False, "access": "rwm"},
                {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"}],
}
s["linux"]["cgroupsPath"] = "system.slice:rt:fuzz"
put("resources", s)
s = copy.deepcopy(base)
s["mounts"].append({"destination": "/data", "type": "bind", "source": "/tmp",
                    "options": ["rbind", "ro", "nosuid", "rprivate", "X-mount.mode=755", "idmap"]})
s["mounts"].append({"destination": "/t", "type": "tmpfs", "source": "tmpfs",
                    "options": ["size=64k", "mode=1777", "rro", "rnosuid", "strictatime"]})
s["linux"]["rootfsPropagation"] = "rshared"
s["linux"]["namespaces"] += [{"type": "user"}, {"type": "time"}]
s["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
s["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
s["linux"]["timeOffsets"] = {"monotonic": {"secs": 10, "nanosecs": 5}}
s["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
s["process"]["execCPUAffinity"] = {"initial": "0", "final": "0-1"}
s["hooks"] = {"createRuntime": [{"path": "/bin/true", "args": ["true"], "timeout": 5}]}
put("mounts-ns", s)
s = copy.deepcopy(base)
s["linux"]["seccomp"] = {
    "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
    "flags": ["SECCOMP_FILTER_FLAG_LOG"],
    "syscalls": [
        {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
        {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"},
    ],
    "listenerPath": "/run/agent.sock",
}
put("seccomp", s)
PY

python3 - "$out/image" <<'PY'
import hashlib, json, sys
out = sys.argv[1]
def doc(o):
    return json.dumps(o, separators=(",", ":")).encode()
def desc(mt, b, **kw):
    d = {"mediaType": mt, "digest": "sha256:" + hashlib.sha256(b).hexdigest(), "size": len(b)}
    d.update(kw)
    return d
layer = b"layer bytes"
diff = "sha256:" + hashlib.sha256(layer).hexdigest()
cfg = doc({"architecture": "amd64", "os": "linux",
           "config": {"User": "u:wheel", "Env": ["A=1"], "Entrypoint": ["/bin/sh"],
                      "Cmd": ["-c", "true"], "WorkingDir": "/w", "Volumes": {"/v": {}},
                      "ExposedPorts": {"80/tcp": {}}, "Labels": {"k": "v"},
                      "StopSignal": "SIGTERM"},
           "rootfs": {"type": "layers", "diff_ids": [diff]}})
man = doc({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": desc("application/vnd.oci.image.config.v1+json", cfg),
           "layers": [desc("application/vnd.oci.image.layer.v1.tar+gzip", layer)]})
plat = {"os": "linux", "architecture": "amd64"}
idx = doc({"schemaVersion": 2, "manifests": [
    desc("application/vnd.oci.image.manifest.v1+json", man, platform=plat,
         annotations={"org.opencontainers.image.ref.name": "latest"})]})
open(f"{out}/flat", "wb").write(b"\0".join([idx, man, cfg]))
# A nested index, as skopeo writes multi-arch images.
arm = {"os": "linux", "architecture": "arm64", "variant": "v8"}
inner = doc({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [desc("application/vnd.oci.image.manifest.v1+json", man, platform=arm),
                           desc("application/vnd.oci.image.manifest.v1+json", man, platform=plat)]})
top = doc({"schemaVersion": 2, "manifests": [
    desc("application/vnd.oci.image.index.v1+json", inner,
         annotations={"org.opencontainers.image.ref.name": "latest"})]})
open(f"{out}/nested", "wb").write(b"\0".join([top, inner, man, cfg]))
open(f"{out}/passwd", "wb").write(b"root:x:0:0:root:/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n\0wheel:x:10:u,root\n")
PY

t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
mkdir -p "$t/src/d/sub" "$t/src/.wh..wh..opq.d"
echo hello > "$t/src/d/file"
ln -s file "$t/src/d/link"
ln "$t/src/d/file" "$t/src/d/hard"
touch "$t/src/d/.wh.gone" "$t/src/d/sub/.wh..wh..opq"
mkfifo "$t/src/fifo"
long=$(printf 'n%.0s' $(seq 1 150))
echo long > "$t/src/d/$long"
truncate -s 1M "$t/src/sparse"
printf 'data' | dd of="$t/src/sparse" bs=1 seek=70000 conv=notrunc status=none
setfattr -n user.k -v v "$t/src/d/file" 2>/dev/null || true
for fmt in gnu pax ustar; do
    tar -b1 --format=$fmt -C "$t/src" -cf "$out/layer/$fmt.tar" d fifo 2>/dev/null || true
done
tar -b1 --format=pax --xattrs -C "$t/src" -cf "$out/layer/xattrs.tar" d
tar -b1 --format=gnu --sparse -C "$t/src" -cf "$out/layer/sparse-gnu.tar" sparse
tar -b1 --format=pax --sparse --sparse-version=1.0 -C "$t/src" -cf "$out/layer/sparse-pax.tar" sparse
python3 - "$out/layer" <<'PY'
import io, sys, tarfile
out = sys.argv[1]
def add(tf, name, data=b"", **pax):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mtime = 1
    ti.pax_headers = pax
    tf.addfile(ti, io.BytesIO(data))
with tarfile.open(f"{out}/pax-records.tar", "w", format=tarfile.PAX_FORMAT) as tf:
    add(tf, "a", b"x", mtime="1700000000.5", atime="-1.25")
    add(tf, "b", b"", **{"SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x0a\x00\x00\x00",
                         "LIBARCHIVE.xattr.user.%41": "dmFsdWU="})
    add(tf, ".wh..wh..opq")
    add(tf, "c/.wh.x")
PY
echo "seeds: $(ls "$out/config" | wc -l) config, $(ls "$out/image" | wc -l) image, $(ls "$out/layer" | wc -l) layer"
