# The git revision is read at build time, so a rebuild after a commit bakes in the new one.
set(OBSGATE_VERSION_CPP ${CMAKE_BINARY_DIR}/generated/version.cpp)
add_custom_target(obsgate_version_gen
  COMMAND ${CMAKE_COMMAND}
    -DSOURCE_DIR=${CMAKE_SOURCE_DIR}
    -DOUTPUT=${OBSGATE_VERSION_CPP}
    -DVERSION=${PROJECT_VERSION}
    -P ${CMAKE_SOURCE_DIR}/cmake/WriteVersion.cmake
  BYPRODUCTS ${OBSGATE_VERSION_CPP}
  COMMENT "Reading the git revision")
