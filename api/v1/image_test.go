package v1

import (
	"strings"
	"testing"
)

func TestImageBadInput(t *testing.T) {
	const head = "apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: web}\nspec:\n  container:\n"
	tests := []struct {
		name  string
		input string
		want  []string // substrings of the one error expected
	}{
		{"upper case", head + "    image: Me/App:1\n",
			[]string{"m.yaml:6", "spec.container.image", `"Me/App:1" is not a valid image reference`, "must be lowercase"}},
		{"short digest", head + "    image: 127.0.0.1:5000/app@sha256:abc\n",
			[]string{"spec.container.image", "repository@sha256:<64 hex digits>", "invalid reference format"}},
		{"space", head + "    image: \"app 1\"\n",
			[]string{"spec.container.image", "is not a valid image reference"}},
		{"pull secret without file", head + "    image: app\n    imagePullSecret: {}\n",
			[]string{"m.yaml:7", "spec.container.imagePullSecret.file", "is required", "--secrets-dir"}},
		{"pull secret dot dot", head + "    image: app\n    imagePullSecret: {file: ../root/.docker/config.json}\n",
			[]string{"spec.container.imagePullSecret.file", "must not contain '..'"}},
		{"pull secret unknown field", head + "    image: app\n    imagePullSecret: {name: regcred}\n",
			[]string{"spec.container.imagePullSecret.name", "unknown field"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantOneError(t, tt.input, tt.want) })
	}
}

func TestImageReferences(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	for _, image := range []string{"redis", "redis:7", "me/app", "127.0.0.1:5000/app:1.2", "registry.example.com/team/app@" + digest, "localhost:5000/app:1@" + digest} {
		doc := "apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: web}\nspec:\n  container:\n    image: " + image + "\n    imagePullSecret: {file: registry/config.json}\n"
		docs, errs := Decode("m.yaml", []byte(doc))
		if len(errs) == 0 {
			errs = Prepare(docs, nil)
		}
		if len(errs) > 0 {
			t.Errorf("image %s: %v", image, errs)
			continue
		}
		u := docs[0].Object.(*Unit)
		if u.Spec.Container.Image != image || u.Spec.Container.ImagePullSecret.File != "registry/config.json" {
			t.Errorf("image %s: container = %+v", image, u.Spec.Container)
		}
	}
}
