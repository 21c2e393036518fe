package registryauth_test

import (
	"fmt"

	"berth.dev/berth/internal/registryauth"
)

func Example() {
	keys, err := registryauth.Parse([]byte(`{"auths": {
		"https://index.docker.io/v1/": {"auth": "bWU6aHViLXBhc3N3b3Jk"},
		"https://registry.example.com:5000/v2/": {"username": "ci", "password": "s3cret"}
	}}`), registryauth.FlagSource)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, image := range []string{"redis:7", "registry.example.com:5000/team/app:1.2", "127.0.0.1:5000/app"} {
		if cred, ok := registryauth.Choose(image, keys); ok {
			fmt.Printf("%s: %v\n", image, cred.Auth) // never prints a password
		} else {
			fmt.Printf("%s: no credentials\n", image)
		}
	}
	// Output:
	// redis:7: user me at https://index.docker.io/v1/
	// registry.example.com:5000/team/app:1.2: user ci at https://registry.example.com:5000/v2/
	// 127.0.0.1:5000/app: no credentials
}
