package units

// Policy is a host's container policy, set by the controller's flags: what
// a Unit's or Job's container may ask for on this host. The zero Policy
// allows nothing beyond an unprivileged container without hostPath
// volumes.
type Policy struct {
	AllowPrivileged bool
	// AllowedCapabilities may be added (cap_add); "ALL" allows any.
	AllowedCapabilities []string
	AllowHostNetwork    bool
	// AllowedHostPaths are the directories under which hostPath volumes
	// may be mounted.
	AllowedHostPaths []string
	// AllowPrivilegeEscalation lets a container turn no-new-privileges off.
	AllowPrivilegeEscalation bool
	// SecretsDir is where env valueFrom.file names are read from.
	SecretsDir string
}
