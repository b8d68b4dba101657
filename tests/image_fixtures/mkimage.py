#!/usr/bin/env python3
"""Builds OCI image layouts for rt's image tests from crafted tar streams.

usage: mkimage.py OUT CASE [--comp none|gzip|zstd] [--canary PATH] [--user U]

CASE is one of the names in CASES below. Hostile cases aim at --canary,
a file outside the bundle that the tests check stays untouched.
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile

MT = {
    "none": "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "docker": "application/vnd.docker.image.rootfs.diff.tar.gzip",
}
T0 = 1600000000


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


class Tar:
    def __init__(self, fmt=tarfile.PAX_FORMAT):
        self.buf = io.BytesIO()
        self.tf = tarfile.open(fileobj=self.buf, mode="w", format=fmt,
                               encoding="utf-8", errors="surrogateescape")

    def add(self, name, kind=tarfile.REGTYPE, data=b"", mode=0o644, uid=0, gid=0,
            mtime=T0, link="", dev=(0, 0), xattrs=None, uname="", gname="", pax=None):
        if isinstance(name, bytes):
            name = name.decode("utf-8", "surrogateescape")
        ti = tarfile.TarInfo(name)
        ti.type = kind
        ti.mode = mode
        ti.uid, ti.gid = uid, gid
        ti.uname, ti.gname = uname, gname
        ti.mtime = mtime
        ti.linkname = link
        ti.devmajor, ti.devminor = dev
        if xattrs:
            ti.pax_headers = {
                "SCHILY.xattr." + k: (v.decode("utf-8", "surrogateescape") if isinstance(v, bytes) else v)
                for k, v in xattrs.items()
            }
        if pax:
            ti.pax_headers = dict(ti.pax_headers, **pax)
        if kind == tarfile.REGTYPE:
            ti.size = len(data)
            self.tf.addfile(ti, io.BytesIO(data))
        else:
            self.tf.addfile(ti)
        return self

    def dir(self, name, mode=0o755, **kw):
        return self.add(name, tarfile.DIRTYPE, mode=mode, **kw)

    def file(self, name, data=b"x", mode=0o644, **kw):
        return self.add(name, tarfile.REGTYPE, data=data, mode=mode, **kw)

    def sym(self, name, target, **kw):
        return self.add(name, tarfile.SYMTYPE, link=target, mode=0o777, **kw)

    def hard(self, name, target, **kw):
        return self.add(name, tarfile.LNKTYPE, link=target, **kw)

    def bytes(self):
        self.tf.close()
        return self.buf.getvalue()


class Layout:
    def __init__(self, out):
        self.out = out
        os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(out, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)

    def path(self, digest):
        return os.path.join(self.out, "blobs", "sha256", digest.split(":", 1)[1])

    def blob(self, data, mt):
        d = sha(data)
        with open(self.path(d), "wb") as f:
            f.write(data)
        return {"mediaType": mt, "digest": d, "size": len(data)}

    def jblob(self, obj, mt):
        return self.blob(json.dumps(obj).encode(), mt)

    def layer(self, tarbytes, comp):
        if comp in ("gzip", "docker"):
            data = gzip.compress(tarbytes, mtime=0)
        elif comp == "zstd":
            data = subprocess.run(["zstd", "-q", "-c"], input=tarbytes,
                                  stdout=subprocess.PIPE, check=True).stdout
        else:
            data = tarbytes
        return self.blob(data, MT[comp]), sha(tarbytes)

    def image(self, tars, comp="gzip", config=None, arch="amd64", variant=None, extra=None):
        descs, diffs = zip(*[self.layer(t, comp) for t in tars]) if tars else ((), ())
        docker = comp == "docker"
        cfg = {"architecture": arch, "os": "linux", "created": "2020-09-13T12:26:40Z",
               "config": config or {}, "rootfs": {"type": "layers", "diff_ids": list(diffs)}}
        if variant:
            cfg["variant"] = variant
        if extra:
            extra(cfg, descs)
        cdesc = self.jblob(cfg, "application/vnd.docker.container.image.v1+json" if docker
                           else "application/vnd.oci.image.config.v1+json")
        mmt = ("application/vnd.docker.distribution.manifest.v2+json" if docker
               else "application/vnd.oci.image.manifest.v1+json")
        man = {"schemaVersion": 2, "mediaType": mmt, "config": cdesc, "layers": list(descs)}
        d = self.jblob(man, mmt)
        d["platform"] = {"architecture": arch, "os": "linux"}
        if variant:
            d["platform"]["variant"] = variant
        return d

    def index(self, descs):
        with open(os.path.join(self.out, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "manifests": descs}, f)


def tag(d, name):
    d = dict(d)
    d["annotations"] = {"org.opencontainers.image.ref.name": name}
    return d


PASSWD = b"root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:A:/home/alice:/bin/sh\nbob:x:1001:100::/home/bob:/bin/sh\n"
GROUP = b"root:x:0:\nusers:x:100:alice\nwheel:x:10:alice,bob\nalice:x:1000:\nstaff:x:50:\n"
# VFS_CAP_REVISION_2 | effective, permitted = CAP_NET_RAW.
CAP = bytes([1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])


def semantics_layers():
    l1 = Tar()
    l1.dir("etc").file("etc/passwd", PASSWD).file("etc/group", GROUP)
    l1.dir("bin").file("bin/ping", b"\x7fELF", mode=0o755, xattrs={"security.capability": CAP})
    l1.file("owned", b"o", uid=1234, gid=5678, uname="root", gname="root")
    l1.file("setuid", b"s", mode=0o4755).dir("setgid", mode=0o2775).dir("sticky", mode=0o1777)
    l1.dir("dev").add("dev/null", tarfile.CHRTYPE, mode=0o666, dev=(1, 3))
    l1.add("dev/loop0", tarfile.BLKTYPE, mode=0o660, dev=(7, 0)).add("fifo", tarfile.FIFOTYPE, mode=0o600)
    l1.sym("abs_link", "/etc/passwd").sym("rel_link", "../etc/group").sym("dangling", "nowhere/at/all")
    l1.file("hl_a", b"shared").hard("hl_b", "hl_a")
    l1.file("xattr_file", b"x", xattrs={"user.foo": "bar", "user.bin": b"\x00\xff\x01"})
    l1.file("d" * 120 + "/" + "e" * 150, b"long")
    l1.file(b"caf\xe9-\xff", b"latin1 name")
    l1.file("file_to_dir", b"f").dir("dir_to_file").file("dir_to_file/child", b"c")
    l1.file("link_to_file_target", b"t").sym("link_to_file", "link_to_file_target")
    l1.file("file_to_link", b"f").add("fifo_to_file", tarfile.FIFOTYPE)
    l1.add("dev_to_dir", tarfile.CHRTYPE, dev=(1, 5)).file("dir_to_link_target", b"t")
    l1.dir("dir_to_link").file("dir_to_link/x", b"x")
    l1.file("wh_file", b"w").dir("wh_dir").file("wh_dir/a").dir("wh_dir/sub").file("wh_dir/sub/b")
    l1.dir("opq").file("opq/a").dir("opq/sub").file("opq/sub/c").file("opq/keep_me_not")
    l1.dir("opq2").file("opq2/x").dir("opq2/deep").file("opq2/deep/old")
    l1.file("hl_lower", b"lower content", mode=0o600)
    l1.dir("realdir").file("realdir/f").sym("sym_dir", "realdir").sym("abs_sym_dir", "/realdir")
    l1.file("mtime_file", b"m", mtime=1234567890).dir("mtime_dir", mtime=1111111111)
    l1.file("reappear", b"first")
    l1.dir("ro_dir", mode=0o555).file("ro_dir/a", b"a")
    l2 = Tar()
    l2.file(".wh.wh_file", b"").file(".wh.wh_dir", b"").file(".wh.nonexistent", b"")
    l2.file("opq/.wh..wh..opq", b"").file("opq/new", b"n").dir("opq/sub2").file("opq/sub2/d")
    l2.file("opq2/y", b"y").dir("opq2/deep").file("opq2/deep/new").file("opq2/.wh..wh..opq", b"")
    l2.dir("file_to_dir").file("file_to_dir/child", b"c").file("dir_to_file", b"now a file")
    l2.file("link_to_file", b"now a file").sym("file_to_link", "/etc/passwd")
    l2.file("fifo_to_file", b"was fifo").dir("dev_to_dir").sym("dir_to_link", "dir_to_link_target")
    l2.hard("hl_upper", "hl_lower").file("sym_dir/g", b"through symlink").file("abs_sym_dir/h", b"abs")
    l2.file(".wh.reappear", b"")
    l2.file("setuid", b"s2", mode=0o6755, uid=0, gid=0)
    l2.file("ro_dir/b", b"added to a read-only lower directory")
    l3 = Tar(tarfile.GNU_FORMAT)
    l3.file("reappear", b"second").file("g" * 90 + "/" + "h" * 120, b"gnu long").hard("hl_again", "hl_upper")
    l3.file("etc/.wh.nothing_here", b"")
    return [l1.bytes(), l2.bytes(), l3.bytes()]


def sparse_layer(workdir, fmt="gnu"):
    src = os.path.join(workdir, "sparse-src")
    os.makedirs(src, exist_ok=True)
    p = os.path.join(src, "sparse")
    with open(p, "wb") as f:
        f.truncate(8 << 20)
        f.seek(4 << 20)
        f.write(b"middle")
        f.seek((8 << 20) - 4)
        f.write(b"end!")
    os.utime(p, (T0, T0))
    os.utime(src, (T0, T0))
    out = subprocess.run(["tar", "--sparse", "--format=" + fmt, "--numeric-owner", "-C", src, "-cf", "-", "sparse"],
                         stdout=subprocess.PIPE, check=True).stdout
    shutil.rmtree(src)
    return out


def hostile_layers(case, canary):
    cdir = os.path.dirname(canary)
    cname = os.path.basename(canary)
    up = "../" * 12
    base = Tar().dir("etc").file("etc/passwd", PASSWD)
    h = Tar()
    if case == "traversal":
        h.file(up + canary.lstrip("/"), b"pwned").file("../" + cname, b"pwned").dir("a").file("a/../../../" + cname, b"pwned")
    elif case == "absolute":
        h.file(canary, b"pwned").dir(cdir + "/newdir").hard("/" + cname + "2", canary)
    elif case == "symlink_same_layer":
        h.sym("esc", cdir).file("esc/" + cname, b"pwned").sym("esc2", up + cdir.lstrip("/")).file("esc2/" + cname, b"pwned")
    elif case == "symlink_earlier_layer":
        base.sym("esc", cdir).sym("escfile", canary)
        h.file("esc/" + cname, b"pwned").dir("esc/sub").file("escfile", b"pwned")
    elif case == "symlink_chain":
        h.sym("a", "b").sym("b", "c").sym("c", up + cdir.lstrip("/")).file("a/" + cname, b"pwned")
        h.sym("f1", "f2").sym("f2", canary).file("f1", b"pwned", mode=0o777)
    elif case == "hardlink_outside":
        base.sym("esc", cdir)
        h.hard("h1", up + canary.lstrip("/")).hard("h2", canary).hard("h3", "esc/" + cname)
        h.file("h1", b"pwned").file("h2", b"pwned", mode=0o777)
    elif case == "whiteout_outside":
        base.sym("esc", cdir)
        h.file("../.wh." + cname, b"").file("esc/.wh." + cname, b"").file(cdir + "/.wh." + cname, b"")
        h.file(up + cdir.lstrip("/") + "/.wh." + cname, b"").file("esc/.wh..wh..opq", b"")
    elif case == "symlink_dot":
        h.sym("dot", ".").file("dot/dot/dot/inside", b"ok").sym("up", "..").file("up/up/" + cname, b"pwned")
        h.file("up/up" + canary, b"pwned")
    elif case == "symlink_loop":
        h.sym("l1", "l2").sym("l2", "l1").file("l1/" + cname, b"pwned")
    elif case == "chmod_through_symlink":
        base.sym("esc", cdir).sym("escfile", canary)
        h.dir("esc", mode=0o777, uid=4242).add("escfile", tarfile.FIFOTYPE, mode=0o777)
    else:
        raise SystemExit("unknown hostile case " + case)
    return [base.bytes(), h.bytes()]


def cap(words):
    return b"".join(w.to_bytes(4, "little") for w in words)


# Capabilities whose bytes hold a newline (0x0a): CAP_DAC_OVERRIDE|CAP_FOWNER,
# and a v3 capability whose rootid is 10.
CAP_NL = cap([0x02000001, 0x0a, 0, 0, 0])
CAP_V3 = cap([0x03000001, 0x2000, 0, 0, 0, 10])


def xattr_layers(case):
    """Hand-made xattr records; the error cases each break one rule."""
    base = Tar().dir("etc").file("etc/passwd", PASSWD).dir("ovl").file("ovl/lower", b"lower")
    t = Tar()
    if case == "xattr_records":
        t.file("nl_cap", b"c", mode=0o755, xattrs={"security.capability": CAP_NL})
        t.file("v3_cap", b"c", mode=0o755, xattrs={"security.capability": CAP_V3})
        t.file("nl_user", b"u", xattrs={"user.multi": b"line1\nline2\n", "trusted.t": b"\n"})
        # bsdtar's form: %-encoded name, base64 value (no padding), plus a
        # name SCHILY also gives (SCHILY wins).
        t.file("libarchive", b"l", xattrs={"user.both": b"schily"}, pax={
            "LIBARCHIVE.xattr.user.a%3Db": "AP8KAQ",
            "LIBARCHIVE.xattr.user.both": "bGliYXJjaGl2ZQ==",
            "LIBARCHIVE.xattr.security.capability": "AQAAAgogAAAAAAAAAAAAAAAAAAA="})
    elif case == "xattr_skips":
        t.dir("ovl", xattrs={"trusted.overlay.opaque": b"y", "user.overlay.opaque": b"y"})
        t.file("ovl/upper", b"upper", xattrs={"trusted.overlay.redirect": b"/etc",
                                               "security.selinux": b"system_u:object_r:etc_t:s0",
                                               "system.nfs4_acl": b"x", "user.kept": b"yes"})
    elif case == "xattr_long_value":
        t.file("f", b"x", xattrs={"user.big": b"v" * 65537})
    elif case == "xattr_long_name":
        t.file("f", b"x", xattrs={"user." + "n" * 251: b"v"})
    elif case == "xattr_bad_cap":
        t.file("f", b"x", xattrs={"security.capability": b"\x01\x00\x00\x02junk"})
    return [base.bytes(), t.bytes()]


XATTR = ["xattr_records", "xattr_skips", "xattr_long_value", "xattr_long_name", "xattr_bad_cap"]


def simple_layers():
    t = Tar().dir("etc").file("etc/passwd", PASSWD).file("etc/group", GROUP).file("hello", b"hello world\n")
    return [t.bytes()]


def corrupt(lay, case):
    """Writes a single-layer gzip image, then breaks it the way CASE says."""
    tars = simple_layers()
    if case == "truncated_gzip":
        descs, diff = lay.layer(tars[0], "gzip")
        os.remove(lay.path(descs["digest"]))
        raw = gzip.compress(tars[0] + b"\0" * 4096, mtime=0)
        cut = raw[: len(raw) // 2]
        desc = lay.blob(cut, MT["gzip"])
        cfg = lay.jblob({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff]}},
                        "application/vnd.oci.image.config.v1+json")
        man = lay.jblob({"schemaVersion": 2, "config": cfg, "layers": [desc]}, "application/vnd.oci.image.manifest.v1+json")
        lay.index([tag(man, "latest")])
        return

    def extra(cfg, descs):
        if case == "diffid_mismatch":
            cfg["rootfs"]["diff_ids"][0] = sha(b"something else")
        if case == "layer_size_mismatch":
            descs[0]["size"] += 1
        if case == "gzip_labelled_tar":
            descs[0]["mediaType"] = MT["none"]
        if case == "gzip_labelled_zstd":
            descs[0]["mediaType"] = MT["zstd"]
        if case == "unknown_media_type":
            descs[0]["mediaType"] = "application/vnd.oci.image.layer.v1.tar+bzip2"
        if case == "bad_layer_digest":
            descs[0]["digest"] = "sha256:../../../../etc/passwd"
        if case == "unsupported_algorithm":
            descs[0]["digest"] = "md5:" + "0" * 32
        if case == "missing_blob":
            os.remove(lay.path(descs[0]["digest"]))
    d = lay.image(tars, "gzip", extra=extra)
    man_path = lay.path(d["digest"])
    man = json.load(open(man_path))
    if case == "layer_digest_mismatch":
        p = lay.path(man["layers"][0]["digest"])
        b = bytearray(open(p, "rb").read())
        b[len(b) // 2] ^= 0xFF
        open(p, "wb").write(bytes(b))
    if case == "config_digest_mismatch":
        p = lay.path(man["config"]["digest"])
        b = open(p, "rb").read().replace(b'"amd64"', b'"AMD64"')
        open(p, "wb").write(b)
    if case == "manifest_digest_mismatch":
        b = open(man_path, "rb").read().replace(b'"schemaVersion": 2', b'"schemaVersion": 3')
        open(man_path, "wb").write(b)
    if case == "bad_index_digest":
        d["digest"] = "sha256:" + "../" * 10 + "etc/passwd"
    lay.index([tag(d, "latest")])


CORRUPT = ["gzip_labelled_tar", "gzip_labelled_zstd", "truncated_gzip", "diffid_mismatch", "layer_size_mismatch", "unknown_media_type",
           "bad_layer_digest", "unsupported_algorithm", "missing_blob", "layer_digest_mismatch",
           "config_digest_mismatch", "manifest_digest_mismatch", "bad_index_digest"]
HOSTILE = ["traversal", "absolute", "symlink_same_layer", "symlink_earlier_layer", "symlink_chain",
           "hardlink_outside", "whiteout_outside", "symlink_dot", "symlink_loop", "chmod_through_symlink"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("case")
    ap.add_argument("--comp", default="gzip", choices=list(MT))
    ap.add_argument("--canary", default="/nonexistent/canary")
    ap.add_argument("--user", default=None)
    ap.add_argument("--entries", type=int, default=0)
    ap.add_argument("--layer", action="append", default=[], help="a tar file (case 'layers')")
    a = ap.parse_args()
    lay = Layout(a.out)
    if a.case == "semantics":
        lay.index([tag(lay.image(semantics_layers(), a.comp), "latest")])
    elif a.case == "sparse":
        lay.index([tag(lay.image([sparse_layer(a.out + ".work")], a.comp), "latest")])
    elif a.case == "sparse_pax":
        # GNU tar's PAX sparse format 1.0 (its default with --format=posix).
        lay.index([tag(lay.image([sparse_layer(a.out + ".work", "posix")], a.comp), "latest")])
    elif a.case == "user":
        cfg = {"User": a.user} if a.user is not None else {}
        lay.index([tag(lay.image(simple_layers(), a.comp, config=cfg), "latest")])
    elif a.case == "config":
        cfg = {"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo hi"], "Env": ["FOO=bar"],
               "WorkingDir": "/w", "Volumes": {"/data": {}}, "ExposedPorts": {"80/tcp": {}},
               "Labels": {"a": "b"}, "StopSignal": "SIGINT", "User": "alice"}
        lay.index([tag(lay.image(simple_layers(), a.comp, config=cfg), "latest")])
    elif a.case == "multiplatform":
        subs = []
        for arch, variant in [("amd64", None), ("arm64", "v8"), ("arm", "v7"), ("s390x", None)]:
            t = Tar().file("platform", (arch + "/" + (variant or "")).encode()).bytes()
            subs.append(lay.image([t], a.comp, arch=arch, variant=variant))
        inner = lay.jblob({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                           "manifests": subs[1:]}, "application/vnd.oci.image.index.v1+json")
        outer = lay.jblob({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                           "manifests": [subs[0], inner]}, "application/vnd.oci.image.index.v1+json")
        other = lay.image(simple_layers(), a.comp)
        lay.index([tag(outer, "multi"), tag(other, "other")])
    elif a.case == "shared":
        base = simple_layers()
        extra = Tar().file("extra", b"derived").bytes()
        lay.index([tag(lay.image(base, a.comp), "base"), tag(lay.image(base + [extra], a.comp), "derived")])
    elif a.case == "untagged":
        d = lay.image(simple_layers(), a.comp)
        del d["platform"]
        lay.index([d])
    elif a.case == "many_entries":
        t = Tar()
        for i in range(a.entries):
            t.file("f%d" % i, b"")
        lay.index([tag(lay.image([t.bytes()], a.comp), "latest")])
    elif a.case == "big":
        t = Tar().file("random", os.urandom(6 << 20)).bytes()
        lay.index([tag(lay.image([t], a.comp), "latest")])
    elif a.case == "slow_second_layer":
        # The second layer takes a while to write (it is extracted through
        # an overlay of the first).
        big = Tar().file("zeros", b"\0" * (96 << 20)).bytes()
        lay.index([tag(lay.image(simple_layers() + [big], a.comp), "latest")])
    elif a.case == "bomb":
        t = Tar().file("zeros", b"\0" * (16 << 20)).bytes()
        lay.index([tag(lay.image([t], a.comp), "latest")])
    elif a.case == "foreign":
        # A tag naming one arm64 manifest, and one naming an index that
        # offers only arm64.
        t = Tar().file("platform", b"arm64").bytes()
        only = lay.image([t], a.comp, arch="arm64", variant="v8")
        inner = lay.jblob({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                           "manifests": [only]}, "application/vnd.oci.image.index.v1+json")
        lay.index([tag(only, "arm"), tag(inner, "arm-index")])
    elif a.case == "layers":
        tars = [open(p, "rb").read() for p in a.layer]
        lay.index([tag(lay.image(tars, a.comp), "latest")])
    elif a.case in XATTR:
        lay.index([tag(lay.image(xattr_layers(a.case), a.comp), "latest")])
    elif a.case in HOSTILE:
        lay.index([tag(lay.image(hostile_layers(a.case, a.canary), a.comp), "latest")])
    elif a.case in CORRUPT:
        corrupt(lay, a.case)
    else:
        sys.exit("unknown case " + a.case)


if __name__ == "__main__":
    main()
