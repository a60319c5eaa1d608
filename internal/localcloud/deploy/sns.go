package deploy

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/rotation-audit/rotation-audit/internal/localcloud/cfn"
)

func deployTopic(ctx context.Context, d *Deployer, r *StackResource, p map[string]any) error {
	var tags []snstypes.Tag
	if err := convert(p["Tags"], &tags); err != nil {
		return fmt.Errorf("property Tags: %w", err)
	}
	attrs := map[string]string{}
	for _, key := range []string{"DisplayName", "KmsMasterKeyId"} {
		if v, ok := p[key]; ok {
			attrs[key] = cfn.String(v)
		}
	}
	existing, err := topicARN(ctx, d.Clients, r.Name)
	if err != nil {
		return err
	}
	r.Updated = existing != ""
	// CreateTopic is idempotent for the same name and attributes.
	out, err := d.Clients.SNS.CreateTopic(ctx, &sns.CreateTopicInput{Name: &r.Name, Attributes: attrs, Tags: tags})
	if err != nil {
		return fmt.Errorf("create topic: %w", err)
	}
	arn := aws.ToString(out.TopicArn)
	r.ref = arn
	var subs []struct{ Endpoint, Protocol string }
	if err := convert(p["Subscription"], &subs); err != nil {
		return fmt.Errorf("property Subscription: %w", err)
	}
	for _, s := range subs {
		if _, err := d.Clients.SNS.Subscribe(ctx, &sns.SubscribeInput{
			TopicArn: &arn, Protocol: aws.String(s.Protocol), Endpoint: aws.String(s.Endpoint),
		}); err != nil {
			return fmt.Errorf("subscribe %s %s: %w", s.Protocol, s.Endpoint, err)
		}
		if d.Embedded {
			r.note("%s: %s %s is subscribed; the embedded cloud sends no messages", r.LogicalID, s.Protocol, s.Endpoint)
		}
	}
	r.attrs = map[string]string{"TopicArn": arn, "TopicName": r.Name}
	return nil
}

// topicARN finds a topic's ARN by its name; empty if there is none.
func topicARN(ctx context.Context, c *Clients, name string) (string, error) {
	pages := sns.NewListTopicsPaginator(c.SNS, &sns.ListTopicsInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return "", fmt.Errorf("list topics: %w", err)
		}
		for _, t := range page.Topics {
			if arn := aws.ToString(t.TopicArn); strings.HasSuffix(arn, ":"+name) {
				return arn, nil
			}
		}
	}
	return "", nil
}

// removeTopic deletes a topic, and with it its subscriptions.
func removeTopic(ctx context.Context, c *Clients, r StackResource) (bool, error) {
	arn, err := topicARN(ctx, c, r.Name)
	if err != nil || arn == "" {
		return false, err
	}
	_, err = c.SNS.DeleteTopic(ctx, &sns.DeleteTopicInput{TopicArn: &arn})
	return gone(err)
}

func topicExists(ctx context.Context, c *Clients, r StackResource) (bool, error) {
	arn, err := topicARN(ctx, c, r.Name)
	return arn != "", err
}
