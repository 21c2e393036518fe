package runtime

import (
	"errors"
	"time"
)

// ErrUnauthorized: the registry refused the pull's credentials, or asked
// for credentials the pull did not present.
var ErrUnauthorized = errors.New("unauthorized")

// RegistryAuth is what a pull presents to the image's registry, as
// Docker's AuthConfig: a user name with a password, or an identity token.
// Its String never shows a secret.
type RegistryAuth struct {
	Username string
	Password string
	// IdentityToken is an OAuth refresh token the registry's token server
	// gave at login (config.json's identitytoken), used instead of a
	// password.
	IdentityToken string
	// ServerAddress is the registry as the credentials name it.
	ServerAddress string
}

// String implements fmt.Stringer without the password or token.
func (a RegistryAuth) String() string {
	s := "user " + a.Username
	if a.IdentityToken != "" {
		s = "identity token"
	}
	return s + " at " + a.ServerAddress
}

// GoString hides the secrets from %#v too.
func (a RegistryAuth) GoString() string { return "runtime.RegistryAuth{" + a.String() + "}" }

// PullOptions are the options of Pull.
type PullOptions struct {
	// Auth is presented to the registry; nil pulls anonymously.
	Auth *RegistryAuth
	// Progress, when set, is called as the pull goes on, from the
	// goroutine that called Pull, with how far it is (never after Pull
	// returns).
	Progress func(PullProgress)
}

// PullProgress is how far a pull is. Layers are counted as the engine
// reports them: a layer already present counts as done with no bytes.
type PullProgress struct {
	Layers     int   // layers of the image, as far as known
	LayersDone int   // layers downloaded and extracted, or already present
	BytesDone  int64 // bytes downloaded
	BytesTotal int64 // bytes to download, as far as known
}

// Image is an image the engine has.
type Image struct {
	// ID is the engine's image ID, "sha256:<hex>" (the digest of its
	// configuration): the same bytes have the same ID on every host.
	ID string
	// RepoTags are its tags, "repo:tag".
	RepoTags []string
	// RepoDigests are "repo@sha256:<hex>", the digests of the manifests
	// it was pulled by or pushed as.
	RepoDigests []string
	// Size is its size on disk, in bytes, layers shared with other images
	// included.
	Size    int64
	Created time.Time
}
