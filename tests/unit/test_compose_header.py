"""The standalone compose file's header lists exactly the files its volumes mount, for each XPU Manager line
(the 2.x header used to list the 1.x REST files, which the 2.x service never mounts)."""
import re
import subprocess
import sys

import pytest
import yaml

from tests.support.verify_run import ROOT


def render(tmp_path, *extra):
    out = tmp_path / "compose.yml"
    args = [sys.executable, "-m", "invoke", "render-compose", "--output", str(out)]
    for e in extra:
        args += ["--extra-vars", e]
    r = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return out.read_text()


def header_paths(text):
    head = text.split("\nservices:", 1)[0]
    return {p for p in re.findall(r"^#\s+(\./xpu-manager/\S+?)(?:,|\s|$)", head, re.M)}


def mounted_dirs(text):
    vols = yaml.safe_load(text)["services"]["xpu-manager"]["volumes"]
    return {v.split(":")[0] for v in vols}


@pytest.mark.parametrize("extra, expect", [
    ((), {"./xpu-manager/rest-conf/rest.conf", "./xpu-manager/rest-conf/cert.pem",
          "./xpu-manager/secrets/credentials"}),
    (("xpumanager_container_line=2",), {"./xpu-manager/xpumd/config.yaml"}),
])
def test_header_lists_what_the_volumes_mount(tmp_path, extra, expect):
    text = render(tmp_path, *extra)
    paths = header_paths(text)
    assert paths == expect
    assert {p.rsplit("/", 1)[0] for p in paths} == mounted_dirs(text)
    assert "/dev/dri only" in text and ":/dev/dri only" not in text
