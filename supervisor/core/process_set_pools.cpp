// Pool membership: what vigil-proxy should be told about each pool member,
// and when to tell it again.
#include <algorithm>

#include "supervisor/core/process_set.hpp"

namespace vigil::core {
namespace {

std::string key_of(const std::string& pool, const std::string& name) { return pool + "/" + name; }

}  // namespace

bool ProcessSet::proxy_up() const noexcept {
    if (proxy_name_.empty()) return false;
    auto it = procs_.find(proxy_name_);
    // Up as soon as its process exists: pushes queue behind the executor's
    // connect retries until the admin socket is bound.
    return it != procs_.end() && it->second.pid > 0 && it->second.state != State::stopping;
}

std::vector<std::string> ProcessSet::pools_of(const std::string& name) const noexcept {
    std::vector<std::string> out;
    for (const auto& [pool, members] : pools_)
        if (std::find(members.begin(), members.end(), name) != members.end()) out.push_back(pool);
    return out;
}

// With a healthcheck, only a passing one lets traffic in: "starting" is not
// ready yet (Kubernetes' readiness, not Docker's "running").
proxy::ServerMode ProcessSet::desired_mode(const std::string& name) const noexcept {
    auto it = procs_.find(name);
    if (it == procs_.end() || it->second.state != State::running) return proxy::ServerMode::down;
    if (it->second.has_healthcheck && it->second.health != HealthStatus::healthy) return proxy::ServerMode::down;
    return proxy::ServerMode::up;
}

proxy::ServerMode ProcessSet::member_mode(const std::string& name) const noexcept {
    auto it = member_hold_.find(name);
    return it != member_hold_.end() ? it->second : desired_mode(name);
}

proxy::ServerMode ProcessSet::member_mode(const std::string& pool, const std::string& name) const noexcept {
    const proxy::ServerMode base = member_mode(name);
    auto role = pool_roles_.find(pool);
    if (role == pool_roles_.end() || base != proxy::ServerMode::up) return base;
    auto role_of = [&](const std::string& n) {
        auto it = replica_roles_.find(n);
        return it == replica_roles_.end() ? ReplicaRole{} : it->second;
    };
    if (role->second == config::Role::primary) return role_of(name).writes ? base : proxy::ServerMode::down;
    // role = replica: healthy replicas; the primary only while none is.
    const ReplicaRole r = role_of(name);
    if (r.reads) return base;
    if (!r.writes) return proxy::ServerMode::down;
    auto members = pools_.find(pool);
    if (members == pools_.end()) return base;
    for (const auto& other : members->second)
        if (other != name && role_of(other).reads && member_mode(other) == proxy::ServerMode::up)
            return proxy::ServerMode::down;
    return base;
}

Commands ProcessSet::set_replica_roles(std::map<std::string, ReplicaRole> roles) noexcept {
    Commands out;
    if (roles == replica_roles_) return out;
    replica_roles_ = std::move(roles);
    for (const auto& [pool, members] : pools_) {
        if (!pool_roles_.count(pool)) continue;
        for (const auto& m : members) refresh_member(m, out);
    }
    return out;
}

// A push counts only once the proxy has acknowledged it: until then `sent_`
// says what is on its way, and one that failed is forgotten (member_ack), so
// the next change or the reconcile after it sends it again.
void ProcessSet::push(const std::string& pool, const std::string& name, proxy::ServerMode mode, std::uint64_t ticket,
                      Commands& out) noexcept {
    sent_[key_of(pool, name)] = mode;
    Command c{Command::Type::set_member};
    c.name = name;
    c.pool = pool;
    c.mode = mode;
    c.ticket = ticket;
    c.reason = std::string(proxy::to_string(mode)) + " in pool " + pool;
    out.push_back(std::move(c));
}

void ProcessSet::refresh_member(const std::string& name, Commands& out) noexcept {
    if (!proxy_up()) return;  // resync when it is
    for (const auto& pool : pools_of(name)) {
        // In a role = replica pool one member's change can move the primary
        // in or out (it serves reads only while no replica does).
        const bool whole = pool_roles_.count(pool) != 0;
        for (const auto& m : whole ? pools_.at(pool) : std::vector<std::string>{name}) {
            const proxy::ServerMode want = member_mode(pool, m);
            auto it = sent_.find(key_of(pool, m));
            if (it != sent_.end() && it->second == want) continue;
            push(pool, m, want, 0, out);
        }
    }
}

// Everything again: pool definitions first (an update may have changed them
// since the proxy read its config), then every member's state.
void ProcessSet::resync(Commands& out) noexcept {
    sent_.clear();
    Command def{Command::Type::define_pools};
    def.proxy_starting = true;
    out.push_back(std::move(def));
    for (const auto& [pool, members] : pools_)
        for (const auto& m : members) {
            push(pool, m, member_mode(pool, m), 0, out);
            out.back().proxy_starting = true;
        }
}

void ProcessSet::on_proxy_change(const Change& c, TimePoint now, Commands& out) noexcept {
    if (c.pid > 0 && c.pid != proxy_pid_) {
        proxy_pid_ = c.pid;
        Command note{Command::Type::log};
        note.name = proxy_name_;
        note.reason = "proxy started (pid " + std::to_string(c.pid) + "), pushing every pool member's state";
        out.push_back(std::move(note));
        resync(out);
        reconcile_at_.reset();
        schedule_reconcile(now + kReconcileEvery);
    } else if (c.pid == 0 && proxy_pid_ != 0) {
        proxy_pid_ = 0;
        reconcile_at_.reset();
        sent_.clear();
        out.push_back(Command{Command::Type::proxy_gone});
    }
}

void ProcessSet::schedule_reconcile(TimePoint at) noexcept {
    if (proxy_name_.empty()) return;                        // no proxy: no timer, no idle wake-up
    if (reconcile_at_ && *reconcile_at_ <= at) return;      // an earlier one is due
    reconcile_at_ = at;
}

Commands ProcessSet::member_ack(const Command& push, int status, std::string_view detail, TimePoint now) noexcept {
    Commands out;
    const bool ok = status >= 200 && status < 300;
    if (!ok) {
        auto it = sent_.find(key_of(push.pool, push.name));
        if (it != sent_.end() && it->second == push.mode) {
            sent_.erase(it);  // not delivered: the reconcile sends it again
            schedule_reconcile(now + kReconcileAfterFailure);
        }
    }
    if (push.ticket == 0) return out;
    // A roll's hold or release: it goes on once every pool has answered.
    for (auto& [id, r] : rolls_) {
        if (r.ticket != push.ticket || r.answers_left == 0) continue;
        if (!ok && r.worst != 0) {
            r.worst = status;
            r.detail = status == 0 ? std::string(detail) : "HTTP " + std::to_string(status);
        }
        if (--r.answers_left == 0) roll_answered(id, now, out);
        break;
    }
    return out;
}

Commands ProcessSet::pools_not_defined(TimePoint now) noexcept {
    schedule_reconcile(now + kReconcileAfterFailure);
    return {};
}

// Compares what the proxy says with this view and pushes every member that
// differs: a push lost in transit, a proxy changed behind vigild's back.
Commands ProcessSet::pools_report(const std::optional<std::map<std::string, std::string>>& actual,
                                  TimePoint now) noexcept {
    Commands out;
    if (!actual) {
        schedule_reconcile(now + kReconcileAfterFailure * 4);
        return out;
    }
    if (!proxy_up()) return out;
    for (const auto& [pool, members] : pools_)
        for (const auto& m : members) {
            const proxy::ServerMode want = member_mode(pool, m);
            auto it = actual->find(key_of(pool, m));
            if (it != actual->end() && it->second == proxy::to_string(want)) continue;
            Command note{Command::Type::log};
            note.name = m;
            note.reason = "the proxy has it " + (it == actual->end() ? std::string("absent") : it->second) +
                          " in pool " + pool + ", vigild wants " + proxy::to_string(want) + ": pushing again";
            out.push_back(std::move(note));
            push(pool, m, want, 0, out);
        }
    schedule_reconcile(now + kReconcileEvery);
    return out;
}

}  // namespace vigil::core
