"""State of each converged MX host, checked with testinfra over ssh."""
import pytest
import testinfra

from labkit import config

MX_HOSTS = ["mx1", "mx2"]


@pytest.fixture(scope="module", params=MX_HOSTS)
def mx(request, lab):
    lab_host = lab[request.param]
    host = testinfra.get_host(
        f"ssh://root@{lab_host.address}",
        ssh_identity_file=str(config.SSH_KEY),
        ssh_extra_args="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
    )
    host.lab = lab_host
    return host


def effective(host):
    lines = host.check_output("postconf -n").splitlines()
    return dict(line.split(" = ", 1) if " = " in line else (line.rstrip(" ="), "") for line in lines)


def test_packages_installed(mx):
    for name in ("postfix", "postfix-pcre", "ssl-cert"):
        assert mx.package(name).is_installed, name


def test_postfix_runs_and_starts_at_boot(mx):
    service = mx.service("postfix")
    assert service.is_enabled
    assert service.is_running
    assert mx.run("postfix status").rc == 0
    assert mx.process.filter(comm="master"), "no Postfix master process"


def test_smtp_port_listens_on_all_addresses(mx):
    assert mx.socket("tcp://0.0.0.0:25").is_listening


def test_effective_main_cf(mx):
    values = effective(mx)
    assert values["myhostname"] == mx.lab.fqdn
    assert values["myorigin"] == "/etc/mailname"
    # The company's domains are relayed to the mailbox host, not delivered here.
    assert values["mydestination"] == "$myhostname, localhost.localdomain, localhost"
    assert values["relay_domains"] == "falcot.test, legacy.falcot.test, partners.falcot.test"
    assert values["transport_maps"] == "hash:/etc/postfix/transport"
    assert values["relay_recipient_maps"] == "hash:/etc/postfix/relay_recipients"
    assert "relay_domains" not in values["parent_domain_matches_subdomains"]
    assert values["mynetworks"] == "127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128 198.18.0.16/28"
    assert values["smtpd_relay_restrictions"].split(", ")[-1] == "reject_unauth_destination"
    assert values["alias_maps"] == "hash:/etc/aliases"
    assert values["recipient_delimiter"] == "+"
    assert values["smtpd_tls_security_level"] == "may"
    assert values["relayhost"] == ""
    assert "mailbox_command" not in values


def test_configuration_is_clean(mx):
    result = mx.run("postconf -n >/dev/null")
    assert result.rc == 0 and result.stderr == "", result.stderr
    assert mx.run("postfix check").rc == 0


def test_mailname_and_aliases(mx):
    assert mx.file("/etc/mailname").content_string == f"{mx.lab.fqdn}\n"
    assert mx.file("/etc/aliases.db").exists
    assert mx.run("postalias -q postmaster hash:/etc/aliases").stdout.strip() == "root"


def test_tls_offered(mx):
    transcript = mx.lab.smtp("127.0.0.1", ["EHLO probe.lab.test"])
    assert "STARTTLS" in transcript[-1]["text"]


def test_the_mailbox_host_delivers_and_takes_mail_only_from_the_fleet(lab):
    mbox = lab["mbox"]
    values = dict(line.split(" = ", 1) for line in mbox.run("postconf -n").stdout.splitlines() if " = " in line)
    assert values["mydestination"] == "$myhostname, localhost.localdomain, localhost, falcot.test"
    assert values["mynetworks"] == ("127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128 198.18.0.16/28 "
                                    f"{lab['mx1'].address}/32 {lab['mx2'].address}/32")
    assert values["smtpd_relay_restrictions"] == "permit_mynetworks, reject"
    assert values["virtual_mailbox_domains"] == "partners.falcot.test"
    assert "relay_domains" not in values and "smtpd_milters" not in values
    assert mbox.run("postfix check").returncode == 0
