// What operators asked for by hand that must outlive vigild: a program
// stopped with `vigilctl stop` stays stopped across a vigild restart until
// someone starts it. Kept in <state_dir>/intent, one "stopped NAME" line per
// program, replaced atomically (temp file, fsync, rename) so a crash mid-write
// never leaves half a file.
#pragma once

#include <set>
#include <string>

namespace vigil::supervisor {

class IntentStore {
public:
    explicit IntentStore(std::string state_dir);

    bool stopped_by_hand(const std::string& name) const { return stopped_.count(name) > 0; }
    const std::set<std::string>& stopped() const { return stopped_; }
    // Both return false when the file could not be written (logged).
    bool set_stopped(const std::string& name, bool stopped);

private:
    bool save() const;

    std::string path_;
    std::set<std::string> stopped_;
};

}  // namespace vigil::supervisor
