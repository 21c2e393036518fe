// Package docker implements runtime.Runtime on a Docker engine with
// github.com/moby/moby/client. It is the only package of berth that imports
// Docker's types.
//
//	rt, err := docker.New("unix:///var/run/docker.sock") // or "tcp://host:2375"; "" for the default
//	if err != nil { ... }
//	defer rt.Close()
//	if err := rt.Ping(ctx); errors.Is(err, runtime.ErrUnavailable) { ... not ready ... }
//
// New does not contact the engine; the API version is negotiated on the first
// call (1.41 with Debian's 20.10, the oldest this client accepts being 1.40).
//
// Engine behaviours papered over so that Docker and the fake agree:
//
//   - Stop: API 1.42 added a signal to stop; on older engines Stop sends the
//     signal with kill, waits for the exit up to the timeout, then kills.
//   - Create checks a user-defined network exists first (older engines only
//     fail at start), so a missing network is ErrNotFound at create.
//   - EnsureNetwork: engines before 25.0 accept two networks with one name;
//     calls are serialised per Client and duplicates are removed (the oldest
//     network is kept), see EnsureNetwork.
//   - Inspect reports each published port once, although Docker lists an
//     IPv4 and an IPv6 binding for it.
//   - List inspects every container it lists, so its results are as complete
//     as Inspect's.
//   - Pull reads the engine's progress stream (Progress: layers and bytes
//     done) and the error it may end with, and finds ErrUnauthorized ("no
//     basic auth credentials", "unauthorized", "pull access denied") and
//     ErrNotFound ("manifest unknown") in the engine's words, which older
//     engines give only as text. ListImages leaves out "<none>" tags.
//
// The tests run the runtimetest conformance suite against the engine of
// $DOCKER_HOST with image berth/testapp:latest (hack/images.sh), and its
// pull tests against Debian's docker-registry (registrytest); they skip
// when any is missing, and fail instead under CI=true.
package docker
