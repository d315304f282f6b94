// mpirun arguments for a cluster whose "nodes" share one machine (loom up, integration tests):
// TCP over loopback only, and no shared hwloc topology segment, whose placement at a fixed
// address crashes orted now and then when several orteds run side by side (Open MPI 4.1).
#pragma once

namespace loom {

inline constexpr const char* kLoopbackMpirunArgs =
    "--mca btl self,tcp --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo "
    "--mca rtc_hwloc_vmhole none";

}  // namespace loom
