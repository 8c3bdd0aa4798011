execute_process(
  COMMAND git -C ${SOURCE_DIR} rev-parse --short=12 HEAD
  OUTPUT_VARIABLE REVISION OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR REVISION STREQUAL "")
  set(REVISION "unknown")
endif()
set(content "#include \"core/version.hpp\"\nnamespace obsgate {\nstd::string_view Version() { return \"${VERSION}\"; }\nstd::string_view Revision() { return \"${REVISION}\"; }\n}  // namespace obsgate\n")
if(EXISTS ${OUTPUT})
  file(READ ${OUTPUT} old)
else()
  set(old "")
endif()
if(NOT old STREQUAL content)
  file(WRITE ${OUTPUT} "${content}")
endif()
