# Include views: each library sees only the headers of the libraries it links.
#
# berth_expose(<target> <folder>...) makes the headers under src/<folder>
# visible, spelt "<folder>/name.h", to <target> and to whatever links it,
# through a folder of symbolic links in the build tree
# (<build>/include/<target>/). A folder written "<folder>/*" exposes only the
# headers directly in it, not its subfolders (server/* is the serving core
# without server/http, server/kserve, ...). No library has src/ itself as an
# include root, so an include of a library one does not link fails to
# compile. scripts/check-source.py checks the direction within a library
# (kernels never include the runtime, ...).
function(berth_expose target)
  set(view "${CMAKE_BINARY_DIR}/include/${target}")
  foreach(folder IN LISTS ARGN)
    if(folder MATCHES "^(.*)/\\*$")
      set(dir "${CMAKE_MATCH_1}")
      file(MAKE_DIRECTORY "${view}/${dir}")
      file(GLOB headers CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/src/${dir}/*.h")
      foreach(header IN LISTS headers)
        get_filename_component(name "${header}" NAME)
        file(CREATE_LINK "${header}" "${view}/${dir}/${name}" SYMBOLIC)
      endforeach()
    else()
      get_filename_component(parent "${view}/${folder}" DIRECTORY)
      file(MAKE_DIRECTORY "${parent}")
      file(CREATE_LINK "${PROJECT_SOURCE_DIR}/src/${folder}" "${view}/${folder}" SYMBOLIC)
    endif()
  endforeach()
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "EXECUTABLE")
    target_include_directories(${target} PRIVATE "${view}")
  else()
    target_include_directories(${target} PUBLIC "${view}")
  endif()
endfunction()
