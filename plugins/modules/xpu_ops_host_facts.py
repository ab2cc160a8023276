#!/usr/bin/python
# Documentation only: the work is done by the action plugin plugins/action/xpu_ops_host_facts.py,
# which runs the checks' own fact code (checks/role_facts.py) on the host.

DOCUMENTATION = r"""
---
module: xpu_ops_host_facts
short_description: Read the facts the Intel GPU roles decide on, with the checks' own code (read-only)
description:
  - Runs the checks zipapp (xpu_ops.zipapp) on the host as verify does, C(python3 -E -s -c LOADER --facts) with
    the archive on stdin, imported from memory: no file of the checks is written there. The facts are the
    checks' own (checks/facts.py, checks/role_facts.py), so provisioning and verify share one set of rules
    for GPUs, WSL2 and containers.
  - Changes nothing; runs in check mode too.
options:
  root:
    description: Read /sys, /dev, /proc, /etc and /lib under this folder of the host (tests).
    type: path
    default: /
  python:
    description: The host's python3; default the interpreter Ansible uses there.
    type: str
author: xpu-ops
"""

EXAMPLES = r"""
- name: Read Intel GPU host facts
  xpu_ops_host_facts:
  register: gpu_host
"""

RETURN = r"""
platform:
  description: checks.facts.platform_facts (os_id, kernel, wsl2, dxg, container, ...).
  type: dict
  returned: always
pci:
  description: checks.facts.pci_facts; C(gpus) lists the Intel display functions with their family.
  type: dict
  returned: always
boot:
  description: efi, secure_boot (enabled, disabled, unknown), kernel_modules_dir, kernel_headers.
  type: dict
  returned: always
render_nodes:
  description: Every /dev/dri/renderD* with its gid and group.
  type: list
  returned: always
"""
