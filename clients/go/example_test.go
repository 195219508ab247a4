package daneclient_test

import (
	"context"
	"fmt"
	"log"
	"net/smtp"
	"time"

	daneclient "github.com/daned/daned/clients/go"
)

// A Go MTA gets DANE by taking its tls.Config for an MX host from
// TLSConfig: the handshake then fails unless the host's TLSA records
// authenticate the server's chain.
func ExampleClient_TLSConfig() {
	daned, err := daneclient.Dial("127.0.0.1:8053", daneclient.WithInsecure())
	if err != nil {
		log.Fatal(err)
	}
	defer daned.Close()
	ctx := context.Background()

	cfg, err := daned.TLSConfig(ctx, "example.com", "mx1.example.com")
	if err != nil {
		log.Fatal(err) // a *daneclient.HostError: try the next MX host
	}
	c, err := smtp.Dial("mx1.example.com:25")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.StartTLS(cfg); err != nil {
		log.Fatal(err) // a *daneclient.VerifyError for a chain DANE rejects
	}
}

func ExampleClient_Validate() {
	daned, err := daneclient.Dial("127.0.0.1:8053", daneclient.WithInsecure(), daneclient.WithTimeout(10*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer daned.Close()
	v, err := daned.Validate(context.Background(), "example.com")
	if err != nil {
		log.Fatal(err) // about the call, not the verdict
	}
	fmt.Println(v.GetAction(), v.GetStatusCode(), v.GetStatusText())
}

func ExampleNextAttempt() {
	first := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for attempt := 1; attempt <= 4; attempt++ {
		fmt.Println(attempt, daneclient.NextAttempt(first, attempt).Format("15:04"))
	}
	// Output:
	// 1 12:15
	// 2 12:30
	// 3 13:30
	// 4 14:30
}

func ExampleFinalCode() {
	first := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	fmt.Println(daneclient.FinalCode("4.7.323", first, first.Add(time.Hour)))
	fmt.Println(daneclient.FinalCode("4.7.323", first, first.Add(24*time.Hour)))
	// Output:
	// 4.7.323 false
	// 5.7.323 true
}
