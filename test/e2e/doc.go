// Package e2e runs berth as a user does: the real controller and applyctl
// binaries, built once by TestMain, against a real etcd (the controller's
// embedded one or a separate one) and, from the controller issue on, the
// real Docker engine.
package e2e
