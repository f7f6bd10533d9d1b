// supervisord's event types and their hierarchy (supervisor/events.py):
// a listener subscribed to a type receives it and every type below it, as
// supervisord's isinstance() test does (PROCESS_STATE → every
// PROCESS_STATE_*, EVENT → everything). Pure names: the config checks
// `events =` with them, supervisor/events routes events with them.
#pragma once

#include <string>
#include <string_view>

namespace vigil::config {

// A name supervisord 4.2 knows (upper case), abstract ones included.
bool is_event_type(std::string_view name) noexcept;
// A pool subscribed to `subscribed` receives an event of concrete type `type`.
bool event_type_matches(std::string_view subscribed, std::string_view type) noexcept;
// "EVENT, PROCESS_STATE, …" for error messages.
std::string event_type_names();

}  // namespace vigil::config
