"""GPU telemetry straight from the kernel (no XPU Manager): hwmon, GT frequency, VRAM size, DRM fdinfo.

Standard library only (it may run on a verified host). Every file name and unit is the kernel's:

================================  ==========================================================================
reading                           where the kernel publishes it (torvalds/linux)
================================  ==========================================================================
energy (J), power (W)             ``<pci dev>/hwmon/hwmonN/energy1_input`` microjoules; power is its rise over
                                  an interval. xe: channel 1 is "card", 2 is "pkg" (``energy2_input``, used when
                                  the card channel is absent); i915: hwmon "i915" is the device, "i915_gtN" GT N
                                  (Documentation/ABI/testing/sysfs-driver-intel-xe-hwmon @2369f05661ef,
                                  sysfs-driver-intel-i915-hwmon @40de53fd002c, drivers/gpu/drm/xe/xe_hwmon.c)
temperature, memory temperature   ``temp*_input`` millidegrees C, by ``temp*_label``: xe "pkg" -> temperature,
                                  "vram*" -> memory temperature; i915's one unlabelled ``temp1_input`` is the
                                  package (xe_hwmon.c ``xe_hwmon_read_label``)
power limits (W)                  ``power1_max`` (PL1, 0 = disabled), ``power1_rated_max`` (TDP), microwatts
frequency (MHz)                   xe ``<pci dev>/tileN/gtM/freq0/act_freq`` (drivers/gpu/drm/xe/xe_gt_freq.c
                                  @1c8e90190337); i915 ``cardN/gt/gtM/rps_act_freq_mhz``, else
                                  ``cardN/gt_act_freq_mhz`` (drivers/gpu/drm/i915/gt/intel_gt_sysfs_pm.c)
VRAM total (MiB)                  xe ``<pci dev>/tileN/physical_vram_size_bytes`` (drivers/gpu/drm/xe/
                                  xe_tile_sysfs.c ``physical_vram_size_bytes_show``; the newest stored version
                                  @f057b57270c2 no longer has it: then null, "absent"); i915
                                  ``cardN/lmem_total_bytes`` (only the out-of-tree DKMS i915 has it: mainline
                                  i915 publishes no VRAM size)
utilisation (%), VRAM used (MiB)  DRM fdinfo of every client this user may read (Documentation/gpu/
                                  drm-usage-stats.rst @f76ad354146d): xe ``drm-cycles-<class>`` over
                                  ``drm-total-cycles-<class>`` (drivers/gpu/drm/xe/xe_drm_client.c
                                  @0739b8ba8227), i915 ``drm-engine-<class>: N ns`` over wall time
                                  (drivers/gpu/drm/i915/i915_drm_client.c @bebf2ebd70f2), both divided by
                                  ``drm-engine-capacity-<class>``; ``drm-resident-vramN`` (xe) /
                                  ``drm-resident-localN`` (i915) per tile N
================================  ==========================================================================

Modules: ``layout`` finds the GPUs and their files, ``hwmon``, ``gt`` and ``fdinfo`` read one kind of
file each, ``sampler`` takes two snapshots and turns them into readings.
"""
