# The launch-digest oracle: sev-snp-measure's own functions on a batch of cases, in one process.
# stdin: {"cases": [...], "ovmf_hashes": [path, ...], "cpu_sigs": [[family, model, stepping]]}
# stdout: {"digests": [hex | {"error": text}], "ovmf_hashes": [hex], "cpu_sigs": [int],
#          "models": {name: signature}, "version": text}
import json
import sys

from sevsnpmeasure import guest, vcpu_types
from sevsnpmeasure.cli import VERSION
from sevsnpmeasure.sev_mode import SevMode
from sevsnpmeasure.vmm_types import VMMType

request = json.load(sys.stdin)


def signature(vcpu):
    if "type" in vcpu:
        return vcpu_types.CPU_SIGS[vcpu["type"]]
    if "sig" in vcpu:
        return vcpu["sig"]
    return vcpu_types.cpu_sig(vcpu["family"], vcpu["model"], vcpu["stepping"])


def digest(case):
    try:
        return guest.calc_launch_digest(
            SevMode.SEV_SNP, case["vcpus"], signature(case["vcpu"]), case["ovmf"],
            case.get("kernel"), case.get("initrd"), case.get("append"),
            case["guest_features"], vmm_type=VMMType[case["vmm_type"]]).hex()
    except (RuntimeError, ValueError, AssertionError) as e:
        return {"error": f"{type(e).__name__}: {e}"}


json.dump({
    "digests": [digest(case) for case in request["cases"]],
    "ovmf_hashes": [guest.calc_snp_ovmf_hash(path).hex() for path in request["ovmf_hashes"]],
    "cpu_sigs": [vcpu_types.cpu_sig(*fms) for fms in request["cpu_sigs"]],
    "models": vcpu_types.CPU_SIGS,
    "version": VERSION,
}, sys.stdout)
