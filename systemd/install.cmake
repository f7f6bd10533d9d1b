# Runs at install time (install(CODE) in CMakeLists.txt): CMAKE_INSTALL_PREFIX
# is the prefix of this install, DESTDIR (if any) is added by file(INSTALL).
set(_prefix "${CMAKE_INSTALL_PREFIX}")
string(REGEX REPLACE "/+$" "" _prefix "${_prefix}")
if(_prefix STREQUAL "/usr" OR _prefix STREQUAL "")
  set(_etc "/etc")
else()
  set(_etc "${_prefix}/etc")
endif()
set(CMAKE_INSTALL_FULL_BINDIR "${_prefix}/bin")
set(CMAKE_INSTALL_FULL_DOCDIR "${_prefix}/share/doc/vigil")
set(VIGIL_CONFIG "${_etc}/vigil/vigil.ini")

# A scratch dir per prefix and DESTDIR, so two installs at once (a test and
# cpack, say) never write the same file; removed at the end.
string(MD5 _key "${_prefix}|$ENV{DESTDIR}")
set(_work "${VIGIL_INSTALL_WORK_DIR}/install-${_key}")
file(MAKE_DIRECTORY "${_work}")
configure_file("${VIGIL_UNIT_TEMPLATE}" "${_work}/vigil.service" @ONLY)
configure_file("${VIGIL_SYSTEMD_DIR}/vigil.logrotate.in" "${_work}/vigil" @ONLY)

file(INSTALL DESTINATION "${_prefix}/lib/systemd/system" TYPE FILE FILES "${_work}/vigil.service")
file(INSTALL DESTINATION "${_prefix}/lib/tmpfiles.d" TYPE FILE RENAME vigil.conf
     FILES "${VIGIL_SYSTEMD_DIR}/vigil.tmpfiles")
file(INSTALL DESTINATION "${_prefix}/lib/sysusers.d" TYPE FILE RENAME vigil.conf
     FILES "${VIGIL_SYSTEMD_DIR}/vigil.sysusers")
# The example config: 0640 root:vigil in the package (postinst sets the
# group once it exists); it names paths, not secrets, but programs'
# environment= lines added later may hold some.
file(INSTALL DESTINATION "${_etc}/vigil" TYPE FILE
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ
     FILES "${VIGIL_EXAMPLE_CONFIG}")
# logrotate's entry for /var/log/vigil: rotate, then `vigilctl reopen`.
file(INSTALL DESTINATION "${_etc}/logrotate.d" TYPE FILE
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
     FILES "${_work}/vigil")
file(REMOVE_RECURSE "${_work}")
