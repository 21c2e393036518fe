package runtimetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"berth.dev/berth/internal/runtime"
)

// registry starts the harness's registry, or skips the test without one.
func (e *env) registry(auth bool) Registry {
	e.t.Helper()
	if e.h.Registry == nil {
		e.t.Skip("the harness has no registry")
	}
	return e.h.Registry(e.t, e.rt, auth)
}

func (e *env) pull(ref string, opts runtime.PullOptions) error {
	return e.rt.Pull(e.ctx(2*time.Minute), ref, opts)
}

func testPullProgressImages(e *env) {
	t := e.t
	reg := e.registry(false)
	ref := reg.Host + "/" + e.label + "/app:1"
	digest := reg.Push(t, e.label+"/app:1", 256<<10)
	if ok, err := e.rt.ImageExists(e.ctx(time.Minute), ref); ok || err != nil {
		t.Fatalf("ImageExists(%s) before the pull = %v, %v; want false, nil", ref, ok, err)
	}
	var seen []runtime.PullProgress
	if err := e.pull(ref, runtime.PullOptions{Progress: func(p runtime.PullProgress) { seen = append(seen, p) }}); err != nil {
		t.Fatalf("Pull(%s): %v", ref, err)
	}
	if len(seen) == 0 {
		t.Fatalf("Pull(%s) reported no progress", ref)
	}
	last := seen[len(seen)-1]
	if last.Layers == 0 || last.LayersDone != last.Layers || last.BytesDone < 256<<10 || last.BytesDone != last.BytesTotal {
		t.Errorf("last progress = %+v; want every layer done and at least the 256 KiB layer's bytes, all of the total", last)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i].LayersDone < seen[i-1].LayersDone || seen[i].BytesDone < seen[i-1].BytesDone {
			t.Errorf("progress went back: %+v after %+v", seen[i], seen[i-1])
		}
	}

	img, err := e.rt.InspectImage(e.ctx(time.Minute), ref)
	if err != nil {
		t.Fatalf("InspectImage(%s): %v", ref, err)
	}
	byDigest := reg.Host + "/" + e.label + "/app@" + digest
	if !strings.HasPrefix(img.ID, "sha256:") || !slices.Contains(img.RepoTags, ref) || !slices.Contains(img.RepoDigests, byDigest) || img.Size < 256<<10 {
		t.Errorf("InspectImage(%s) = %+v; want an ID sha256:..., tag %s, digest %s, size at least 256 KiB", ref, img, ref, byDigest)
	}
	all, err := e.rt.ListImages(e.ctx(time.Minute))
	if err != nil {
		t.Fatalf("ListImages: %v", err)
	}
	if !slices.ContainsFunc(all, func(i runtime.Image) bool { return i.ID == img.ID && slices.Contains(i.RepoTags, ref) }) {
		t.Errorf("ListImages does not list %s (%s)", ref, img.ID)
	}

	spec := e.spec("pulled")
	spec.Image = ref
	id := e.create(spec)
	if c := e.inspect(id); c.ImageID != img.ID || c.Image != ref {
		t.Errorf("container image, image ID = %q, %q; want %q, %q", c.Image, c.ImageID, ref, img.ID)
	}
	if err := e.rt.RemoveImage(e.ctx(time.Minute), ref); !errors.Is(err, runtime.ErrConflict) {
		t.Errorf("RemoveImage(%s) used by a container = %v, want ErrConflict", ref, err)
	}
	if err := e.rt.RemoveImage(e.ctx(time.Minute), img.ID); !errors.Is(err, runtime.ErrConflict) {
		t.Errorf("RemoveImage(%s) used by a container = %v, want ErrConflict", img.ID, err)
	}
	if err := e.rt.Remove(e.ctx(time.Minute), id); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if err := e.rt.RemoveImage(e.ctx(time.Minute), img.ID); err != nil {
		t.Fatalf("RemoveImage(%s): %v", img.ID, err)
	}
	for _, r := range []string{ref, byDigest, img.ID} {
		if _, err := e.rt.InspectImage(e.ctx(time.Minute), r); !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("InspectImage(%s) after RemoveImage = %v, want ErrNotFound", r, err)
		}
	}
	if err := e.rt.RemoveImage(e.ctx(time.Minute), ref); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("RemoveImage(%s) again = %v, want ErrNotFound", ref, err)
	}
}

func testPullAuth(e *env) {
	t := e.t
	reg := e.registry(true)
	ref := reg.Host + "/" + e.label + "/private:1"
	reg.Push(t, e.label+"/private:1", 1<<10)

	err := e.pull(ref, runtime.PullOptions{})
	if !errors.Is(err, runtime.ErrUnauthorized) || !strings.Contains(err.Error(), ref) {
		t.Errorf("Pull(%s) without credentials = %v; want ErrUnauthorized naming the image", ref, err)
	}
	wrong := "not-" + reg.Password
	err = e.pull(ref, runtime.PullOptions{Auth: &runtime.RegistryAuth{Username: reg.Username, Password: wrong, ServerAddress: reg.Host}})
	if !errors.Is(err, runtime.ErrUnauthorized) || !strings.Contains(err.Error(), "unauthorized") {
		t.Errorf("Pull(%s) with a wrong password = %v; want ErrUnauthorized, unauthorized", ref, err)
	}
	if err != nil && strings.Contains(err.Error(), wrong) {
		t.Errorf("Pull's error shows the password: %v", err)
	}
	if ok, _ := e.rt.ImageExists(e.ctx(time.Minute), ref); ok {
		t.Fatalf("%s is present after refused pulls", ref)
	}
	auth := &runtime.RegistryAuth{Username: reg.Username, Password: reg.Password, ServerAddress: reg.Host}
	if err := e.pull(ref, runtime.PullOptions{Auth: auth}); err != nil {
		t.Fatalf("Pull(%s) with credentials: %v", ref, err)
	}
	if ok, err := e.rt.ImageExists(e.ctx(time.Minute), ref); !ok || err != nil {
		t.Errorf("ImageExists(%s) after the pull = %v, %v", ref, ok, err)
	}
	if s := fmt.Sprintf("%v %+v %#v %s", *auth, *auth, *auth, auth); strings.Contains(s, reg.Password) {
		t.Errorf("RegistryAuth prints its password: %s", s)
	}
	e.removeImage(ref)
}

func testPullByDigest(e *env) {
	t := e.t
	reg := e.registry(false)
	digest := reg.Push(t, e.label+"/pinned:1", 1<<10)
	ref := reg.Host + "/" + e.label + "/pinned@" + digest
	if err := e.pull(ref, runtime.PullOptions{}); err != nil {
		t.Fatalf("Pull(%s): %v", ref, err)
	}
	img, err := e.rt.InspectImage(e.ctx(time.Minute), ref)
	if err != nil || !slices.Contains(img.RepoDigests, ref) {
		t.Fatalf("InspectImage(%s) = %+v, %v; want it with that digest", ref, img, err)
	}
	spec := e.spec("pinned")
	spec.Image = ref
	id := e.create(spec)
	if c := e.inspect(id); c.ImageID != img.ID {
		t.Errorf("container image ID = %q, want %q", c.ImageID, img.ID)
	}
	if err := e.rt.Remove(e.ctx(time.Minute), id); err != nil {
		t.Fatal(err)
	}
	e.removeImage(img.ID)
}

func testPullUnknownTag(e *env) {
	t := e.t
	reg := e.registry(false)
	reg.Push(t, e.label+"/app:1", 1<<10)
	ref := reg.Host + "/" + e.label + "/app:1.2"
	err := e.pull(ref, runtime.PullOptions{})
	if !errors.Is(err, runtime.ErrNotFound) || !strings.Contains(err.Error(), "manifest unknown") || !strings.Contains(err.Error(), ref) {
		t.Errorf("Pull(%s) = %v; want ErrNotFound, manifest unknown, naming the image", ref, err)
	}
}

// removeImage removes an image the test pulled.
func (e *env) removeImage(ref string) {
	e.t.Helper()
	if err := e.rt.RemoveImage(e.ctx(time.Minute), ref); err != nil {
		e.t.Errorf("RemoveImage(%s): %v", ref, err)
	}
}
