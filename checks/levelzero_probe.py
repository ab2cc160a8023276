"""Run in a CHILD interpreter (checks.child): ask the Level Zero runtime what it sees; print one JSON line.

Standard library only (ctypes on libze_loader.so.1), so it runs on any verified host. The API, structures and
values are Level Zero's (oneapi-src/level-zero include/ze_api.h, zes_api.h; Debian 12's libze-dev 1.8.12 =
tag v1.8.12, commit 23641699b9e2a68f61e6f12a61a27d1f1ef54570):

  zeInit(flags) -> zeDriverGet(&n, drivers) -> zeDeviceGet(driver, &n, devices) -> zeDeviceGetProperties
  (ze_device_properties_t) -> zeDevicePciGetPropertiesExt (ze_pci_ext_properties_t, the PCI properties
  extension) -> zesDeviceGetProperties (Sysman; with ZES_ENABLE_SYSMAN=1 set before zeInit).

The loader's debug trace (ZE_ENABLE_LOADER_DEBUG_TRACE=1, on stderr) is set by the parent; loaders older than
the trace (1.8) say nothing, so the probe also dlopen()s the GPU driver library the Linux loader looks for
(source/loader/linux/driver_discovery_lin.cpp: knownDriverNames) and records dlerror's text when zeInit fails.
"""
import ctypes
import json
import os
import sys

LOADER = "libze_loader.so.1"
GPU_DRIVER = "libze_intel_gpu.so.1"
ZE_STRUCTURE_TYPE_DEVICE_PROPERTIES = 0x3
ZE_STRUCTURE_TYPE_PCI_EXT_PROPERTIES = 0x10008
ZES_STRUCTURE_TYPE_DEVICE_PROPERTIES = 0x1
ZE_DEVICE_PROPERTY_FLAG_INTEGRATED = 1 << 0
ZE_DEVICE_PROPERTY_FLAG_SUBDEVICE = 1 << 1
DEVICE_TYPES = {1: "gpu", 2: "cpu", 3: "fpga", 4: "mca", 5: "vpu"}


class DeviceProperties(ctypes.Structure):
    """ze_device_properties_t (ze_api.h)."""
    _fields_ = [("stype", ctypes.c_uint32), ("pNext", ctypes.c_void_p), ("type", ctypes.c_uint32),
                ("vendorId", ctypes.c_uint32), ("deviceId", ctypes.c_uint32), ("flags", ctypes.c_uint32),
                ("subdeviceId", ctypes.c_uint32), ("coreClockRate", ctypes.c_uint32),
                ("maxMemAllocSize", ctypes.c_uint64), ("maxHardwareContexts", ctypes.c_uint32),
                ("maxCommandQueuePriority", ctypes.c_uint32), ("numThreadsPerEU", ctypes.c_uint32),
                ("physicalEUSimdWidth", ctypes.c_uint32), ("numEUsPerSubslice", ctypes.c_uint32),
                ("numSubslicesPerSlice", ctypes.c_uint32), ("numSlices", ctypes.c_uint32),
                ("timerResolution", ctypes.c_uint64), ("timestampValidBits", ctypes.c_uint32),
                ("kernelTimestampValidBits", ctypes.c_uint32), ("uuid", ctypes.c_uint8 * 16),
                ("name", ctypes.c_char * 256)]


class PciExtProperties(ctypes.Structure):
    """ze_pci_ext_properties_t (ze_api.h): stype, pNext, ze_pci_address_ext_t, ze_pci_speed_ext_t."""
    _fields_ = [("stype", ctypes.c_uint32), ("pNext", ctypes.c_void_p), ("domain", ctypes.c_uint32),
                ("bus", ctypes.c_uint32), ("device", ctypes.c_uint32), ("function", ctypes.c_uint32),
                ("genVersion", ctypes.c_int32), ("width", ctypes.c_int32), ("maxBandwidth", ctypes.c_int64)]


def _mapped(prefixes=("libze_",)):
    found = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) == 6 and os.path.basename(parts[5].strip()).startswith(prefixes):
                    if parts[5].strip() not in found:
                        found.append(parts[5].strip())
    except OSError:
        pass
    return found


def _render_access():
    out = {}
    try:
        names = sorted(n for n in os.listdir("/dev/dri") if n.startswith("renderD"))
    except OSError:
        return out
    for n in names:
        try:
            os.close(os.open("/dev/dri/" + n, os.O_RDWR))
            out["/dev/dri/" + n] = "ok"
        except OSError as e:
            out["/dev/dri/" + n] = e.strerror or str(e)
    return out


def probe():
    out = {"loader": None, "init": None, "drivers": 0, "devices": [], "render_access": _render_access()}
    try:
        ze = ctypes.CDLL(LOADER)
    except OSError as e:
        out["loader_error"] = str(e)
        return out
    out["init"] = rc = ze.zeInit(ctypes.c_uint32(0))
    out["loader"] = next((p for p in _mapped(("libze_loader",))), LOADER)
    if rc != 0:
        try:
            ctypes.CDLL(GPU_DRIVER)
            out["gpu_driver_dlopen"] = "ok"
        except OSError as e:
            out["gpu_driver_dlopen"] = str(e)
        return out
    n = ctypes.c_uint32(0)
    out["driver_get"] = ze.zeDriverGet(ctypes.byref(n), None)
    drivers = (ctypes.c_void_p * n.value)()
    if n.value:
        ze.zeDriverGet(ctypes.byref(n), drivers)
    out["drivers"] = n.value
    pci_ext = getattr(ze, "zeDevicePciGetPropertiesExt", None)
    zes_props = getattr(ze, "zesDeviceGetProperties", None)
    for d_index, drv in enumerate(drivers):
        m = ctypes.c_uint32(0)
        ze.zeDeviceGet(ctypes.c_void_p(drv), ctypes.byref(m), None)
        devs = (ctypes.c_void_p * m.value)()
        if m.value:
            ze.zeDeviceGet(ctypes.c_void_p(drv), ctypes.byref(m), devs)
        for dev in devs:
            props = DeviceProperties(stype=ZE_STRUCTURE_TYPE_DEVICE_PROPERTIES)
            rc = ze.zeDeviceGetProperties(ctypes.c_void_p(dev), ctypes.byref(props))
            item = {"driver": d_index, "result": rc, "name": props.name.decode("utf-8", "replace"),
                    "type": DEVICE_TYPES.get(props.type, str(props.type)), "vendor_id": props.vendorId,
                    "device_id": props.deviceId, "integrated": bool(props.flags & ZE_DEVICE_PROPERTY_FLAG_INTEGRATED),
                    "subdevice": bool(props.flags & ZE_DEVICE_PROPERTY_FLAG_SUBDEVICE), "bdf": None}
            if pci_ext is not None:
                pci = PciExtProperties(stype=ZE_STRUCTURE_TYPE_PCI_EXT_PROPERTIES)
                item["pci_result"] = prc = pci_ext(ctypes.c_void_p(dev), ctypes.byref(pci))
                if prc == 0:
                    item["bdf"] = "%04x:%02x:%02x.%x" % (pci.domain, pci.bus, pci.device, pci.function)
            if zes_props is not None:
                buf = (ctypes.c_uint64 * 512)()  # zes_device_properties_t is < 4 KiB; stype first
                buf[0] = ZES_STRUCTURE_TYPE_DEVICE_PROPERTIES
                item["sysman_result"] = zes_props(ctypes.c_void_p(dev), buf)
            out["devices"].append(item)
    out["mapped"] = _mapped()
    return out


if __name__ == "__main__":
    sys.stdout.write("XPUOPS-PROBE " + json.dumps(probe()) + "\n")
    sys.stdout.flush()
    os._exit(0)  # no driver teardown at exit: a wedged GPU's driver may hang there
