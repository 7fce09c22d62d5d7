"""Four-letter words on the client port, as monitoring scripts use them:
a plain connection, the four bytes, then read until the server closes."""

from conftest import four_letter


def test_ruok_answers_imok(server):
    assert four_letter(server, "ruok") == "imok"


def test_srvr_and_stat_report_zxid_and_mode(server, client):
    for word in ("srvr", "stat"):
        out = four_letter(server, word)
        lines = out.splitlines()
        assert any(l.startswith("Zookeeper version: ") for l in lines), out
        zxid = [l for l in lines if l.startswith("Zxid: ")]
        assert len(zxid) == 1 and int(zxid[0].split()[1], 16) > 0, out
        assert "Mode: standalone" in lines, out
        assert any(l.startswith("Node count: ") for l in lines), out


def test_mntr_is_tab_separated_and_has_the_usual_keys(server, client):
    out = four_letter(server, "mntr")
    fields = {}
    for line in out.splitlines():
        key, sep, value = line.partition("\t")
        assert sep == "\t", repr(line)
        fields[key] = value
    assert fields["zk_version"]
    assert float(fields["zk_avg_latency"]) >= 0
    assert int(fields["zk_znode_count"]) >= 1
    assert fields["zk_server_state"] == "standalone"
    assert int(fields["zk_num_alive_connections"]) >= 1


def test_conf_reports_the_client_port(server):
    out = four_letter(server, "conf")
    ports = [l.split("=", 1)[1] for l in out.splitlines() if l.startswith("clientPort=")]
    assert ports == [server.rsplit(":", 1)[1]], out


def test_isro_answers_rw(server):
    assert four_letter(server, "isro") == "rw"


def test_znode_count_follows_creates(server, client, base):
    def count():
        out = four_letter(server, "mntr")
        line = [l for l in out.splitlines() if l.startswith("zk_znode_count\t")][0]
        return int(line.split("\t")[1])

    before = count()
    for i in range(3):
        client.create(f"{base}/n{i}")
    assert count() == before + 3
