package fake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/distribution/reference"

	"berth.dev/berth/internal/runtime"
)

// image is a local image: its ID and references ("repo:tag",
// "repo@sha256:..."), familiar as Docker lists them.
type image struct {
	id      string
	tags    []string
	digests []string
	size    int64
	created time.Time
}

func (i *image) runtime() runtime.Image {
	return runtime.Image{ID: i.id, RepoTags: slices.Clone(i.tags), RepoDigests: slices.Clone(i.digests), Size: i.size, Created: i.created}
}

// registryImage is an image the fake registry serves.
type registryImage struct {
	id     string // the image ID it has once pulled
	digest string // its manifest's digest
	layers []int64
}

type registryUser struct{ username, password string }

// RegistryImage is what SetRegistryImage puts in the fake registry.
type RegistryImage struct {
	// Layers are the sizes of its layers in bytes; none means one layer
	// of 1 KiB.
	Layers []int64
}

// AddImage makes ref present locally, as if built on this engine ("name"
// means "name:latest"); it returns the image's ID.
func (r *Runtime) AddImage(ref string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, err := familiar(ref)
	if err != nil {
		panic("fake: AddImage: " + err.Error())
	}
	id := digestOf("local", n, newID())
	r.untagLocked(n)
	r.images[id] = &image{id: id, tags: []string{n}, size: 1 << 10, created: time.Now()}
	return id
}

// AddRegistryImage makes ref ("repo:tag") pullable with one layer of
// 1 KiB and returns the digest of its manifest; see SetRegistryImage.
func (r *Runtime) AddRegistryImage(ref string) string {
	return r.SetRegistryImage(ref, RegistryImage{})
}

// SetRegistryImage puts new content at ref ("repo:tag") in the fake
// registry and returns the digest of its manifest: Pull of ref, or of
// "repo@<digest>", then succeeds and adds it locally. Setting a tag again
// moves it to the new content (the old stays pullable by digest).
func (r *Runtime) SetRegistryImage(ref string, img RegistryImage) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		panic("fake: SetRegistryImage: " + err.Error())
	}
	salt := newID()
	ri := &registryImage{id: digestOf("config", salt), digest: digestOf("manifest", salt), layers: slices.Clone(img.Layers)}
	if len(ri.layers) == 0 {
		ri.layers = []int64{1 << 10}
	}
	r.registry[reference.FamiliarString(reference.TagNameOnly(n))] = ri
	r.registry[reference.FamiliarName(n)+"@"+ri.digest] = ri
	return ri.digest
}

// RequireAuth makes the fake registry at host ("127.0.0.1:5000",
// "docker.io") refuse pulls that do not present username and password:
// without credentials as Docker says "no basic auth credentials", with
// others "unauthorized: authentication required", both wrapping
// runtime.ErrUnauthorized.
func (r *Runtime) RequireAuth(host, username, password string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.auth[host] = registryUser{username, password}
}

// HoldPulls makes every pull, until release is called, report its first
// progress (its layers known, none done) and then wait for release or
// for its context to end.
func (r *Runtime) HoldPulls() (release func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	held := make(chan struct{})
	r.held = held
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.held == held {
			close(held)
			r.held = nil
		}
	}
}

// ImageExists implements runtime.Runtime.
func (r *Runtime) ImageExists(ctx context.Context, ref string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check("imageexists", ref); err != nil {
		return false, err
	}
	return r.lookupImage(ref) != nil, nil
}

// InspectImage implements runtime.Runtime.
func (r *Runtime) InspectImage(ctx context.Context, ref string) (runtime.Image, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check("inspectimage", ref); err != nil {
		return runtime.Image{}, err
	}
	img := r.lookupImage(ref)
	if img == nil {
		return runtime.Image{}, fmt.Errorf("fake: inspect image %s: %w: no such image", ref, runtime.ErrNotFound)
	}
	return img.runtime(), nil
}

// ListImages implements runtime.Runtime.
func (r *Runtime) ListImages(ctx context.Context) ([]runtime.Image, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check("listimages", ""); err != nil {
		return nil, err
	}
	out := make([]runtime.Image, 0, len(r.images))
	for _, img := range r.images {
		out = append(out, img.runtime())
	}
	slices.SortFunc(out, func(a, b runtime.Image) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// Pull implements runtime.Runtime: it succeeds for images put in the fake
// registry (AddRegistryImage, SetRegistryImage), presenting the
// credentials RequireAuth asks for, reporting each layer's progress, and
// for images present locally that the registry does not have.
func (r *Runtime) Pull(ctx context.Context, ref string, opts runtime.PullOptions) error {
	ri, held, err := r.startPull(ref, opts)
	if err != nil || ri == nil {
		return err
	}
	p := runtime.PullProgress{Layers: len(ri.layers)}
	for _, size := range ri.layers {
		p.BytesTotal += size
	}
	report := func() {
		if opts.Progress != nil {
			opts.Progress(p)
		}
	}
	report()
	if held != nil {
		select {
		case <-held:
		case <-ctx.Done():
			return fmt.Errorf("fake: pull %s: %w", ref, ctx.Err())
		}
	}
	for _, size := range ri.layers {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("fake: pull %s: %w", ref, err)
		}
		p.BytesDone += size
		p.LayersDone++
		report()
	}
	return r.finishPull(ref, ri)
}

// startPull checks a pull of ref: what the registry serves for it (nil
// when the image is local and the registry has no such ref), and the
// channel to wait on when pulls are held.
func (r *Runtime) startPull(ref string, opts runtime.PullOptions) (*registryImage, chan struct{}, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check("pull", ref); err != nil {
		return nil, nil, err
	}
	n, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, nil, fmt.Errorf("fake: pull %s: invalid reference format: %w", ref, err)
	}
	if u, ok := r.auth[reference.Domain(n)]; ok {
		switch a := opts.Auth; {
		case a == nil:
			return nil, nil, fmt.Errorf("fake: pull %s: image could not be pulled: %w: Head \"https://%s/v2/%s/manifests/%s\": no basic auth credentials",
				ref, runtime.ErrUnauthorized, reference.Domain(n), reference.Path(n), apiTag(n))
		case a.Username != u.username || a.Password != u.password:
			return nil, nil, fmt.Errorf("fake: pull %s: image could not be pulled: %w: unauthorized: authentication required", ref, runtime.ErrUnauthorized)
		}
	}
	ri := r.registry[reference.FamiliarString(reference.TagNameOnly(n))]
	if ri == nil && r.lookupImage(ref) == nil {
		return nil, nil, fmt.Errorf("fake: pull %s: image could not be pulled: %w: manifest for %s not found: manifest unknown: manifest unknown",
			ref, runtime.ErrNotFound, reference.FamiliarString(reference.TagNameOnly(n)))
	}
	return ri, r.held, nil
}

// finishPull makes the pulled image local and tags it, as Docker does:
// the tag pulled moves to it, and it gains the digest reference.
func (r *Runtime) finishPull(ref string, ri *registryImage) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, _ := reference.ParseNormalizedNamed(ref)
	img := r.images[ri.id]
	if img == nil {
		var size int64
		for _, l := range ri.layers {
			size += l
		}
		img = &image{id: ri.id, size: size, created: time.Now()}
		r.images[ri.id] = img
	}
	if _, byDigest := n.(reference.Canonical); !byDigest {
		tag := reference.FamiliarString(reference.TagNameOnly(n))
		r.untagLocked(tag)
		img.tags = append(img.tags, tag)
	}
	if d := reference.FamiliarName(n) + "@" + ri.digest; !slices.Contains(img.digests, d) {
		img.digests = append(img.digests, d)
	}
	return nil
}

// RemoveImage implements runtime.Runtime, with Docker's rules: a tag or
// digest reference is untagged (a tag's last one in its repository takes
// the repository's digest references along), and the image goes with its
// last reference unless a container uses it; an image ID removes the
// image with its references when they are of one repository and no
// container uses it.
func (r *Runtime) RemoveImage(ctx context.Context, ref string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check("removeimage", ref); err != nil {
		return err
	}
	img := r.lookupImage(ref)
	if img == nil {
		return fmt.Errorf("fake: remove image %s: %w: no such image", ref, runtime.ErrNotFound)
	}
	user := r.userOf(img.id)
	if r.byID(ref) == nil {
		n, _ := familiar(ref)
		if user != "" && singleRepository(img) {
			return fmt.Errorf("fake: remove image %s: %w: unable to remove repository reference %q (must force) - container %s is using its referenced image", ref, runtime.ErrConflict, ref, user)
		}
		img.tags = slices.DeleteFunc(img.tags, func(t string) bool { return t == n })
		img.digests = slices.DeleteFunc(img.digests, func(d string) bool { return d == n })
		if repo := repository(n); !strings.Contains(n, "@") && !slices.ContainsFunc(img.tags, func(t string) bool { return repository(t) == repo }) {
			img.digests = slices.DeleteFunc(img.digests, func(d string) bool { return repository(d) == repo })
		}
		if len(img.tags)+len(img.digests) > 0 {
			return nil
		}
	} else if !singleRepository(img) {
		return fmt.Errorf("fake: remove image %s: %w: unable to delete %s (must be forced) - image is referenced in multiple repositories", ref, runtime.ErrConflict, short(img.id))
	}
	if user != "" {
		return fmt.Errorf("fake: remove image %s: %w: unable to delete %s - image is being used by container %s", ref, runtime.ErrConflict, short(img.id), user)
	}
	delete(r.images, img.id)
	return nil
}

// lookupImage finds a local image by reference or by ID (or a prefix of
// at least 12 hex digits); the caller holds r.mu.
func (r *Runtime) lookupImage(ref string) *image {
	if img := r.byID(ref); img != nil {
		return img
	}
	n, err := familiar(ref)
	if err != nil {
		return nil
	}
	for _, img := range r.images {
		if slices.Contains(img.tags, n) || slices.Contains(img.digests, n) {
			return img
		}
	}
	return nil
}

func (r *Runtime) byID(ref string) *image {
	hex := strings.TrimPrefix(ref, "sha256:")
	if len(hex) < 12 || strings.Trim(hex, "0123456789abcdef") != "" {
		return nil
	}
	for id, img := range r.images {
		if strings.HasPrefix(strings.TrimPrefix(id, "sha256:"), hex) {
			return img
		}
	}
	return nil
}

// untagLocked takes tag off whichever image has it; an image left without
// references stays, dangling, as in Docker.
func (r *Runtime) untagLocked(tag string) {
	for _, img := range r.images {
		img.tags = slices.DeleteFunc(img.tags, func(t string) bool { return t == tag })
	}
}

// userOf returns the name of a container created from image id, or "".
func (r *Runtime) userOf(id string) string {
	for _, c := range r.containers {
		if c.c.ImageID == id {
			return c.c.Name
		}
	}
	return ""
}

// familiar returns ref as Docker lists it: "name:latest" for "name",
// "docker.io/library/x" as "x".
func familiar(ref string) (string, error) {
	n, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", err
	}
	return reference.FamiliarString(reference.TagNameOnly(n)), nil
}

// repository is the repository of a familiar reference.
func repository(ref string) string {
	if n, err := reference.ParseNormalizedNamed(ref); err == nil {
		return reference.FamiliarName(n)
	}
	return ref
}

// singleRepository reports whether every reference of img is of one
// repository and at most one is a tag (Docker's isSingleReference).
func singleRepository(img *image) bool {
	repos := map[string]bool{}
	for _, ref := range append(slices.Clone(img.tags), img.digests...) {
		repos[repository(ref)] = true
	}
	return len(repos) <= 1 && len(img.tags) <= 1
}

// apiTag is the tag or digest of n, as Docker's messages name it.
func apiTag(n reference.Named) string {
	if d, ok := n.(reference.Digested); ok {
		return d.Digest().String()
	}
	if t, ok := reference.TagNameOnly(n).(reference.Tagged); ok {
		return t.Tag()
	}
	return "latest"
}

func digestOf(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func short(id string) string {
	h := strings.TrimPrefix(id, "sha256:")
	return h[:min(12, len(h))]
}

// Tag adds the tag ref to a local image (ID or reference), as docker tag
// does; the tag leaves whichever image had it.
func (r *Runtime) Tag(image, ref string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	img := r.lookupImage(image)
	if img == nil {
		return fmt.Errorf("fake: tag %s: %w: no such image", image, runtime.ErrNotFound)
	}
	n, err := familiar(ref)
	if err != nil {
		return fmt.Errorf("fake: tag %s: %w", ref, err)
	}
	r.untagLocked(n)
	img.tags = append(img.tags, n)
	return nil
}
