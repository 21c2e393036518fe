// Package registryauth finds the credentials a pull presents to an image's
// registry, in files on the host that runs it: never in etcd.
//
// Credentials are written in Docker's config.json format, which `docker
// login` writes and every registry's documentation explains:
//
//	{"auths": {
//	  "registry.example.com:5000": {"auth": "<base64 of user:password>"},
//	  "https://index.docker.io/v1/": {"username": "me", "password": "..."},
//	  "ghcr.io": {"identitytoken": "<an OAuth refresh token>"}
//	}}
//
// A controller reads two kinds of such files, each time it pulls (so new
// credentials need no restart):
//
//   - its --registry-config (by default $DOCKER_CONFIG/config.json, else
//     ~/.docker/config.json of the user it runs as, when that file exists);
//   - a Unit's or Job's spec.container.imagePullSecret {file: NAME}, a file
//     in the host's --secrets-dir, which takes precedence for that
//     workload when it has an entry for the image's registry.
//
// The entry is chosen by the image's registry host as Docker chooses it:
// an image without a registry host is Docker Hub's, whose entry may be
// written "https://index.docker.io/v1/" (what docker login writes),
// "index.docker.io", "docker.io" or "registry-1.docker.io"; other keys are
// compared by host, without a scheme ("https://") or a path ("/v1/").
// Credential helpers (credsStore, credHelpers) are programs berth does not
// run: their registries have no credentials here, and the error of a pull
// refused for lack of them says so.
//
//	keys, err := registryauth.Load("/root/.docker/config.json", registryauth.FlagSource)
//	cred, ok := keys.Lookup("127.0.0.1:5000/app:1") // cred.Auth for runtime.PullOptions
//	...
//	err = registryauth.Explain("127.0.0.1:5000/app:1", cred, ok, pullErr)
//	// unauthorized: authentication required for 127.0.0.1:5000/app (no credentials for this registry in --registry-config)
//
// Errors of this package name the file and the entry, never what an entry
// holds; runtime.RegistryAuth prints without its secrets.
package registryauth
