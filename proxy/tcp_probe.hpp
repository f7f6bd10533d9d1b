// What the kernel knows about a pooled upstream connection, asked only when
// the answer decides whether a request may be sent again. Plain syscalls on
// a descriptor: no Asio, so the core library keeps none.
#pragma once

#include <cstdint>
#include <optional>

namespace vigil::proxy {

// True when the connection looks usable: nothing to read and no EOF (a
// pooled connection the upstream has closed reads EOF, or has stray bytes;
// a live idle one would block). One recv(MSG_PEEK) system call.
bool idle_conn_alive(int fd) noexcept;

// Bytes of ours the peer's TCP has acknowledged, SYN included (Linux
// tcpi_bytes_acked); nullopt when the kernel does not say.
std::optional<std::uint64_t> bytes_acked(int fd) noexcept;

}  // namespace vigil::proxy
