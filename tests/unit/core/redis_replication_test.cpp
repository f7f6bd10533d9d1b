// What vigild reads of Redis replication (supervisor/core/redis_replication.hpp):
// RESP replies in any split, INFO lines, a replica's lag from the master's
// and its own INFO replication as Redis 7 prints them.
#include <catch2/catch.hpp>

#include "supervisor/core/redis_replication.hpp"

using namespace std::chrono_literals;
namespace redis = vigil::core::redis;

namespace {

const char* kMaster =
    "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n"
    "slave0:ip=127.0.0.1,port=7001,state=online,offset=5915,lag=0\r\n"
    "slave1:ip=127.0.0.1,port=6380,state=online,offset=8920,lag=1\r\n"
    "master_failover_state:no-failover\r\nmaster_replid:80fe1c70985a5fe8f524e169f3e6e6c8963be7d6\r\n"
    "master_repl_offset:10411\r\nsecond_repl_offset:-1\r\n"
    "# Stats\r\ntotal_connections_received:40\r\nsync_full:3\r\nsync_partial_ok:0\r\n";

std::string replica(long long offset, const std::string& link = "up", int master_port = 6379,
                    const std::string& replid = "80fe1c70985a5fe8f524e169f3e6e6c8963be7d6") {
    return "# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:" + std::to_string(master_port) +
           "\r\nmaster_link_status:" + link + "\r\nslave_read_repl_offset:" + std::to_string(offset) +
           "\r\nslave_repl_offset:" + std::to_string(offset) + "\r\nmaster_replid:" + replid + "\r\n";
}

}  // namespace

TEST_CASE("redis replication: RESP requests and replies, whole or in pieces", "[redis]") {
    CHECK(redis::command({"REPLICAOF", "NO", "ONE"}) == "*3\r\n$9\r\nREPLICAOF\r\n$2\r\nNO\r\n$3\r\nONE\r\n");
    CHECK(redis::command({"CONFIG", "GET", "dir"}) == "*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$3\r\ndir\r\n");
    const std::string wire = "+OK\r\n-ERR no\r\n:42\r\n$5\r\nab\r\nc\r\n$-1\r\n";
    std::vector<redis::Reply> got;
    std::string buf, bad;
    for (char c : wire) {  // one byte at a time
        buf += c;
        std::size_t used = 0;
        while (auto r = redis::parse_reply(buf, used, bad)) {
            got.push_back(*r);
            buf.erase(0, used);
        }
        REQUIRE(bad.empty());
    }
    REQUIRE(got.size() == 5);
    CHECK(got[0].text == "OK");
    CHECK(got[1].error);
    CHECK(got[1].text == "ERR no");
    CHECK(got[2].text == "42");
    CHECK(got[3].text == "ab\r\nc");
    CHECK(got[4].text.empty());
}

// The limits themselves: tests/unit/core/resp_test.cpp.
TEST_CASE("redis replication: an array, a malformed or an oversized reply is refused", "[redis]") {
    std::size_t used = 0;
    std::string bad;
    CHECK_FALSE(redis::parse_reply("*1\r\n", used, bad));
    CHECK(bad.empty());  // incomplete: read whole first, then refused
    CHECK_FALSE(redis::parse_reply("*1\r\n+OK\r\n", used, bad));
    CHECK(bad == "an array reply (INFO and REPLICAOF answer none)");
    CHECK_FALSE(redis::parse_reply("*17\r\n", used, bad));
    CHECK(bad == "an array reply of 17 items (at most 16)");
    CHECK_FALSE(redis::parse_reply("*1\r\n*0\r\n", used, bad));
    CHECK(bad == "arrays nested deeper than 1");
    CHECK_FALSE(redis::parse_reply("$x\r\n", used, bad));
    CHECK(bad == "a malformed bulk length 'x'");
    CHECK_FALSE(redis::parse_reply("+" + std::string(redis::kLimits.max_line, 'a'), used, bad));
    CHECK(bad == "a reply line longer than 65536 bytes");
    CHECK_FALSE(redis::parse_reply("$1048577\r\n", used, bad));
    CHECK(bad == "a bulk reply of 1048577 bytes (at most 1048576)");
    CHECK_FALSE(redis::parse_reply("$2\r\nabc\r\n", used, bad));
    CHECK(bad == "a bulk reply longer than its length");
}

TEST_CASE("redis replication: a replica's lag from the master's and its own INFO", "[redis]") {
    const auto master = redis::parse_info(kMaster);
    CHECK(master.at("connected_slaves") == "2");
    // Matched by its address; the bytes behind from the replica's own offset,
    // not the master's once-a-second acknowledgement (8920).
    auto lag = redis::replica_lag(master, redis::parse_info(replica(10411)), "127.0.0.1", 6380, 6379);
    CHECK(lag.streaming);
    CHECK(lag.bytes == 0);
    CHECK(lag.seconds == 1000ms);
    CHECK(lag.full_syncs == 3);  // from the stats section asked with it
    lag = redis::replica_lag(master, redis::parse_info(replica(10400)), "0.0.0.0", 6380, 6379);
    CHECK(lag.streaming);
    CHECK(lag.bytes == 11);
    // Ahead (asked after the master, writes went on): 0 behind.
    CHECK(redis::replica_lag(master, redis::parse_info(replica(10500)), "127.0.0.1", 6380, 6379).bytes == 0);
    // Not streaming: not listed, link down, another master, another history, no answer.
    CHECK_FALSE(redis::replica_lag(master, redis::parse_info(replica(10411)), "127.0.0.1", 6381, 6379).streaming);
    CHECK_FALSE(redis::replica_lag(master, redis::parse_info(replica(10411, "down")), "127.0.0.1", 6380, 6379).streaming);
    CHECK_FALSE(redis::replica_lag(master, redis::parse_info(replica(10411, "up", 6390)), "127.0.0.1", 6380, 6379).streaming);
    CHECK_FALSE(
        redis::replica_lag(master, redis::parse_info(replica(10411, "up", 6379, "x")), "127.0.0.1", 6380, 6379).streaming);
    CHECK_FALSE(redis::replica_lag(master, {}, "127.0.0.1", 6380, 6379).streaming);
    auto syncing = redis::parse_info(std::string(kMaster));
    syncing["slave1"] = "ip=127.0.0.1,port=6380,state=wait_bgsave,offset=0,lag=0";
    CHECK_FALSE(redis::replica_lag(syncing, redis::parse_info(replica(10411)), "127.0.0.1", 6380, 6379).streaming);
    // A count far beyond the lines there are is not walked: the replica is
    // still found among the lines, at once.
    auto boasting = redis::parse_info(std::string(kMaster));
    boasting["connected_slaves"] = "9000000000000000000";
    CHECK(redis::replica_lag(boasting, redis::parse_info(replica(10411)), "127.0.0.1", 6380, 6379).streaming);
}

TEST_CASE("redis replication: drained once the old master is gone and all it sent is applied", "[redis]") {
    std::string why;
    CHECK_FALSE(redis::drained(redis::parse_info(replica(10, "up")), why));
    CHECK(why == "its link to the old master is still up");
    auto info = redis::parse_info(replica(10, "down"));
    CHECK(redis::drained(info, why));
    info["slave_read_repl_offset"] = "20";
    CHECK_FALSE(redis::drained(info, why));
    CHECK(why == "applied offset 10 of 20 received");
    CHECK_FALSE(redis::drained(redis::parse_info("role:master\r\n"), why));
}
