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
    description: The host's python3; default the interpreter Ansible uses there (inventory, ansible.cfg, discovery).
    type: str
  state:
    description:
      - Also read, in the same round trip, the state a role manages, so that on a converged host no further
        task has to ask the host (checks/role_facts.py C(state)).
      - C(users) (list of names), C(groups) (list of names), C(files) (list of absolute paths), C(dpkg) (bool).
    type: dict
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
state:
  description:
    - C(users) {name {exists, groups}} (through NSS, as getent reads them); C(groups) {name exists};
      C(files) {path {exists, kind (file, dir, link, other), mode ("0644"), uid, gid, sha1 (regular files up to
      1 MiB)}}; C(dpkg) {installed (names), interrupted (what dpkg --audit reports, or dpkg's journal)} or null.
  type: dict
  returned: when state is given
"""
