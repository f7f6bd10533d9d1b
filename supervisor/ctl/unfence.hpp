// `vigilctl unfence NAME [--timeout S]`: the fenced member NAME of a
// replicated pair (docs/replication.md) is made the pair's primary again and
// started, for when no failover could take place (its replica was down
// too). vigild decides (core::ReplicationPair::unfence) and refuses when
// NAME is not fenced or another member is the running primary; vigilctl
// then waits until NAME is RUNNING (and healthy, with a check).
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "supervisor/ctl/client.hpp"

namespace vigil::ctl {

// `args`: what follows the verb. The documented exit code.
int unfence(const Client& client, const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace vigil::ctl
