"""The 2.x exposition read as upstream defines it (intel/xpumanager xpumd/, see
tests/fixtures/upstream/xpumanager-2.x/SOURCE.md): the device level is com_intel_subdevice_id="", tiles "0", "1";
device-level series win, tiles aggregate only where the device level has none; temperatures by statistic="max";
memory by hw_memory_location="device"; utilisation from "all" or the compute/render groups; health by the
intelxpuinfo exporter's default mapping (xpumd/config-example.yaml)."""

import pathlib

import pytest

from checks.xpum import prometheus as P

FIX = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "upstream" / "xpumanager-2.x"
TWO_TILE = (FIX / "metrics_two_tile.prom").read_text()
BDF = "0000:05:00.0"


def read(text=TWO_TILE):
    fams = P.parse(text)
    (gpu,) = P.gpus(fams, P.DIALECT_2X)
    return gpu, P.metrics(fams, P.DIALECT_2X, gpu["pci_bdf_address"], 0), P.health_2x(fams, BDF)


def test_two_tile_readings_follow_the_device_level_then_the_tiles():
    gpu, m, (status, _) = read()
    assert (gpu["pci_bdf_address"], gpu["pci_device_id"]) == (BDF, "0x0bd5")
    # the card's own power and energy (device level, "card"), not card + packages (300 + 150 + 140)
    assert (m["power_usage"], m["energy"]) == (300, 5000)
    # only tiles report these: memory sums (HBM of both tiles, not the "system" memory), utilisation means
    # compute-all (copy-all is not compute), frequency means the tiles' avg, temperatures take the hottest tile
    assert (m["memory_total"], m["memory_used"]) == (2 * 65536, 8192 + 4096)
    assert m["gpu_utilization"] == pytest.approx((50 + 10) / 2)
    assert (m["frequency"], m["temperature"], m["memory_temperature"]) == (1100, 55, 47)
    assert sorted(m["derived_from_tiles"]) == sorted(
        ["gpu_utilization", "memory_used", "memory_total", "temperature", "memory_temperature", "frequency"])
    # two tiles, no phantom "" tile; each with its own package power
    assert [(t["tile_id"], t["power_usage"], t["temperature"]) for t in m["tiles"]] == [(0, 150, 52), (1, 140, 55)]
    assert status == "healthy"


def test_utilisation_prefers_the_all_group():
    text = TWO_TILE.replace('hw_gpu_task="copy-all",hw_id="12345678-0000-0000-0000-000000000000",hw_name="engine-2',
                            'hw_gpu_task="all",hw_id="12345678-0000-0000-0000-000000000000",hw_name="engine-2')
    _, m, _ = read(text)
    assert m["tiles"][0]["gpu_utilization"] == 25  # tile 0 has "all" (0.25): it wins over compute-all (0.5)
    assert m["tiles"][1]["gpu_utilization"] == 10  # tile 1 has none: its compute-all


RESET = ('hw_state="reset_needed",hw_type="gpu",pci_bdf="0000:05:00.0"} 0',
         'hw_state="reset_needed",hw_type="gpu",pci_bdf="0000:05:00.0"} 1')


@pytest.mark.parametrize("old,new,status,domain,severity", [
    (*RESET, "warning", "gpu", "warning"),  # no key for reset_needed: "*" -> warning
    ('hw_name="mem-1",hw_state="ok"', 'hw_name="mem-1",hw_state="replace"', "critical", "memory", "critical"),
    ('hw_name="mem-2",hw_state="ok"', 'hw_name="mem-2",hw_state="degraded"', "warning", "memory", "warning"),
    ('hw_name="freq-2",hw_state="ok"', 'hw_name="freq-2",hw_state="throttled"', "warning", "frequency", "warning"),
    ('hw_name="freq-1",hw_state="ok"', 'hw_name="freq-1",hw_state="failed"', "critical", "frequency", "failed"),
    ('hw_name="temp-3",hw_sensor_location="gpu",hw_state="ok"',
     'hw_name="temp-3",hw_sensor_location="gpu",hw_state="warning"', "warning", "temperature", "warning"),
])
def test_health_as_the_intelxpuinfo_default_mapping(old, new, status, domain, severity):
    assert old in TWO_TILE
    _, _, (got, components) = read(TWO_TILE.replace(old, new))
    assert got == status
    assert components[domain]["severity"] == severity


def test_pci_link_state_is_not_healthy_and_inactive_states_do_not_count():
    line = ('hw_status{com_intel_subdevice_id="",hw_id="12345678-0000-0000-0000-000000000000",hw_name="gpu-1-pci",'
            'hw_state="%s",hw_type="pci_link",pci_bdf="0000:05:00.0"} %d\n')
    _, _, (status, comps) = read(TWO_TILE + line % ("quality_issues", 1))
    assert status == "warning" and comps["pci_link"]["status"] == "quality_issues"
    _, _, (status, comps) = read(TWO_TILE + line % ("quality_issues", 0))
    assert status == "healthy" and "pci_link" not in comps
