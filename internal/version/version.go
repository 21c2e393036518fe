// Package version holds berth's version, set at build time with
// -ldflags "-X berth.dev/berth/internal/version.Version=v0.1.0".
package version

// Version of the berth binaries.
var Version = "v0.1.0-dev"
