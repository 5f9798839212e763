"""main.cf and master.cf tasks answered from the host probe's snapshot (issue 13, point 4): a converge finds a
hand edit made since the last run and undoes it, with the module on the host; the next converge changes
nothing and runs none of those modules on the host. The probe's output, main.cf included, is not printed.
A restart that died while it waited for deliveries to end (module postfix_restart) leaves defer_transports
in main.cf; the same converge takes it out.
"""
import re

from ansible_runs import ansible, TOP

HOST = "mx1"
# Managed by the postfix role (main.cf) and the sasl_auth role (master.cf).
PARAMETER, SERVICE = "myhostname", "submission/inet"


def converge_verbose():
    result = ansible([str(TOP / ".venv/bin/ansible-playbook"), "site.yml", "--limit", HOST, "-v"])
    assert result.returncode == 0, result.stdout[-4000:]
    return result.stdout


def task_results(output, host=HOST):
    """Task name -> the status and the -v result text of ``host``, for each task that ran there."""
    results = {}
    for block in output.split("\nTASK [")[1:]:
        name = block.split("]", 1)[0]
        match = re.search(rf"^(ok|changed): \[{host}\] => \n(.*?)(?=^\S|\Z)", block, re.M | re.S)
        if match:
            results[name] = (match.group(1), match.group(2))
    return results


def snapshot_answers(results):
    """name -> from_snapshot of the tasks whose result says."""
    return {name: "from_snapshot: true" in text for name, (_status, text) in results.items()
            if "from_snapshot:" in text}


def test_hand_edits_are_found_and_an_unchanged_run_stays_on_the_controller(lab):
    host = lab[HOST]
    wanted = host.run(f"postconf -h {PARAMETER}").stdout.strip()
    entry = host.run(f"postconf -M {SERVICE}").stdout.strip()
    assert wanted and entry, "the lab is not converged"
    host.run(f"postconf -e {PARAMETER}=drifted.falcot.test")
    host.run(f"postconf -MX {SERVICE}")
    host.run("postconf -e 'defer_transports=smtp relay'")
    assert host.run(f"postconf -M {SERVICE}").stdout.strip() == ""

    output = converge_verbose()
    results = task_results(output)
    for task in ("postfix : Configure main.cf", "sasl_auth : Configure the submission service"):
        status, text = results[task]
        assert status == "changed" and "from_snapshot: false" in text, f"{task}: {status}\n{text}"
    assert host.run(f"postconf -h {PARAMETER}").stdout.strip() == wanted
    assert host.run(f"postconf -M {SERVICE}").stdout.strip() == entry
    assert host.run("postconf -n defer_transports").stdout.strip() == "", "delivery is still deferred"
    assert "postconf -n out:" not in output and "passwd: root" not in output, "the probe's output is printed"

    output = converge_verbose()
    recap = output[output.index("PLAY RECAP"):]
    assert re.search(rf"^{HOST}\s+: ok=\d+\s+changed=0 ", recap, re.M), recap
    answers = snapshot_answers(task_results(output))
    assert "postfix : Configure main.cf" in answers and "sasl_auth : Configure the submission service" in answers
    assert all(answers.values()), f"ran the module on the host although nothing differed: {answers}"
