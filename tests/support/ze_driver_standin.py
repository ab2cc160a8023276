"""A stand-in for the Intel Level Zero GPU driver library (libze_intel_gpu.so.1, from intel/compute-runtime),
built by the test from Debian's libze-dev headers (/usr/include/level_zero, oneapi-src/level-zero v1.8.12) and
loaded by Debian's real loader (libze1) exactly as the real driver is: by that file name, through the dynamic
linker's search path (source/loader/linux/driver_discovery_lin.cpp: knownDriverNames).

What a driver must export for that loader (source/loader/ze_loader.cpp: init_driver; source/loader/ze_ldrddi.cpp:
zeGet<Table>ProcAddrTable asks each driver for each table; source/lib/ze_libddi.cpp asks for every ze/zet/zes
table at zeInit): every ``z{e,et,es}Get<Table>ProcAddrTable`` the DDI headers declare. The stand-in exports each
(names read from the headers), zero-fills the table, and implements what a probe calls: zeInit, zeDriverGet,
zeDeviceGet, zeDeviceGetProperties, zeDevicePciGetPropertiesExt, zesDeviceGetProperties. It reports the devices
the test chooses.
"""
import os
import re
import subprocess

HEADERS = "/usr/include/level_zero"
_TABLE = re.compile(r"typedef ze_result_t \(ZE_APICALL \*(ze[ts]?)_pfnGet(\w+)ProcAddrTable_t\)\(\s*ze_api_version_t,"
                    r"\s*(\w+)\*")

FILL = {
    ("ze", "Global"): "t->pfnInit = fake_init;",
    ("ze", "Driver"): "t->pfnGet = fake_driver_get;",
    ("ze", "Device"): "t->pfnGet = fake_device_get; t->pfnGetProperties = fake_device_props; "
                      "t->pfnPciGetPropertiesExt = fake_pci_props;",
    ("zes", "Device"): "t->pfnGetProperties = fake_sysman_props;",
}


def tables():
    """(prefix, Table, table type) for every proc-address table the installed DDI headers declare."""
    out = []
    for h in ("ze_ddi.h", "zet_ddi.h", "zes_ddi.h"):
        with open(os.path.join(HEADERS, h)) as f:
            out += _TABLE.findall(f.read())
    return out


def available():
    return os.path.isdir(HEADERS) and os.path.exists("/usr/lib/x86_64-linux-gnu/libze_loader.so.1") or \
        any(os.path.exists(os.path.join(d, "libze_loader.so.1")) for d in ("/usr/lib64", "/usr/lib"))


def source(devices, init_result=0, sysman_result=0, init_stderr=None):
    """C source of a driver reporting `devices`: dicts name, bdf 'dddd:bb:dd.f', device_id, integrated."""
    rows = []
    for d in devices:
        dom, bus, rest = d["bdf"].split(":")
        dev, fn = rest.split(".")
        rows.append('{"%s", 0x%x, %d, 0x%s, 0x%s, 0x%s, 0x%s}' % (
            d["name"], d["device_id"], 1 if d.get("integrated") else 0, dom, bus, dev, fn))
    c = ['#include <string.h>', '#include <level_zero/ze_api.h>', '#include <level_zero/ze_ddi.h>',
         '#include <level_zero/zet_ddi.h>', '#include <level_zero/zes_ddi.h>',
         'struct fake_dev { const char *name; uint32_t id; int integrated; uint32_t dom, bus, dev, fn; };',
         'static struct fake_dev devs[] = {%s};' % (", ".join(rows) or '{"", 0, 0, 0, 0, 0, 0}'),
         'static const uint32_t ndevs = %d;' % len(devices), 'static int the_driver;',
         '#include <stdio.h>',
         'static ze_result_t ZE_APICALL fake_init(ze_init_flags_t f) { (void)f; %s return (ze_result_t)0x%x; }'
         % ('fprintf(stderr, "%s\\n");' % init_stderr if init_stderr else "", init_result),
         'static ze_result_t ZE_APICALL fake_driver_get(uint32_t *n, ze_driver_handle_t *d) {',
         '  if (d && *n) d[0] = (ze_driver_handle_t)&the_driver; *n = 1; return ZE_RESULT_SUCCESS; }',
         'static ze_result_t ZE_APICALL fake_device_get(ze_driver_handle_t h, uint32_t *n, ze_device_handle_t *d) {',
         '  (void)h; if (d) { for (uint32_t i = 0; i < *n && i < ndevs; i++) d[i] = (ze_device_handle_t)&devs[i]; }',
         '  else *n = ndevs; return ZE_RESULT_SUCCESS; }',
         'static ze_result_t ZE_APICALL fake_device_props(ze_device_handle_t h, ze_device_properties_t *p) {',
         '  struct fake_dev *d = (struct fake_dev *)h; p->type = ZE_DEVICE_TYPE_GPU; p->vendorId = 0x8086;',
         '  p->deviceId = d->id; p->flags = d->integrated ? ZE_DEVICE_PROPERTY_FLAG_INTEGRATED : 0;',
         '  strncpy(p->name, d->name, ZE_MAX_DEVICE_NAME - 1); return ZE_RESULT_SUCCESS; }',
         'static ze_result_t ZE_APICALL fake_pci_props(ze_device_handle_t h, ze_pci_ext_properties_t *p) {',
         '  struct fake_dev *d = (struct fake_dev *)h; p->address.domain = d->dom; p->address.bus = d->bus;',
         '  p->address.device = d->dev; p->address.function = d->fn; return ZE_RESULT_SUCCESS; }',
         'static ze_result_t ZE_APICALL fake_sysman_props(zes_device_handle_t h, zes_device_properties_t *p) {',
         '  (void)h; (void)p; return (ze_result_t)0x%x; }' % sysman_result]
    for prefix, table, ttype in tables():
        c.append('__attribute__((visibility("default"))) ze_result_t ZE_APICALL %sGet%sProcAddrTable('
                 'ze_api_version_t v, %s *t) { (void)v; memset(t, 0, sizeof(*t)); %s return ZE_RESULT_SUCCESS; }'
                 % (prefix, table, ttype, FILL.get((prefix, table), "")))
    return "\n".join(c) + "\n"


def build(folder, devices, **kw):
    """Compile the stand-in as FOLDER/libze_intel_gpu.so.1; returns FOLDER (put it on LD_LIBRARY_PATH)."""
    os.makedirs(folder, exist_ok=True)
    src = os.path.join(folder, "ze_intel_gpu_standin.c")
    with open(src, "w") as f:
        f.write(source(devices, **kw))
    subprocess.run(["gcc", "-shared", "-fPIC", "-O0", "-o", os.path.join(folder, "libze_intel_gpu.so.1"), src],
                   check=True, capture_output=True, text=True)
    return folder
