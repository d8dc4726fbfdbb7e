package deploy

import _ "embed"

// TargetClusterRBAC is target-cluster/rbac.yaml: the bot's ServiceAccount, Role and
// RoleBinding in each MeshDB cluster. The tests against real API servers apply it as is.
//
//go:embed target-cluster/rbac.yaml
var TargetClusterRBAC []byte

// StateRBAC is overlays/ha/state-rbac.yaml: what the bot may do in its own namespace with
// state.backend kubernetes (its ConfigMaps and the leader Lease).
//
//go:embed overlays/ha/state-rbac.yaml
var StateRBAC []byte
