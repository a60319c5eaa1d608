package deploy

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/rotation-audit/rotation-audit/internal/localcloud/cfn"
)

func deployQueue(ctx context.Context, d *Deployer, r *StackResource, p map[string]any) error {
	q := d.Clients.SQS
	attrs := map[string]string{}
	for _, key := range []string{"DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod",
		"ReceiveMessageWaitTimeSeconds", "VisibilityTimeout", "SqsManagedSseEnabled", "KmsMasterKeyId"} {
		if v, ok := p[key]; ok {
			attrs[key] = cfn.String(v)
		}
	}
	if v, ok := p["RedrivePolicy"]; ok {
		// CloudFormation takes the policy as an object; SQS as JSON text.
		policy, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("RedrivePolicy: %w", err)
		}
		attrs["RedrivePolicy"] = string(policy)
	}
	tags := tagMap(p["Tags"])
	if _, err := q.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: &r.Name}); err == nil {
		r.Updated = true
	}
	out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: &r.Name, Attributes: attrs, Tags: tags})
	if err != nil && r.Updated && hasCode(err, []string{"QueueAlreadyExists", "QueueNameExists"}) {
		url, uerr := q.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: &r.Name})
		if uerr != nil {
			return fmt.Errorf("get queue URL: %w", uerr)
		}
		if _, err = q.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: url.QueueUrl, Attributes: attrs}); err != nil {
			return fmt.Errorf("update queue attributes: %w", err)
		}
		out = &sqs.CreateQueueOutput{QueueUrl: url.QueueUrl}
	} else if err != nil {
		return fmt.Errorf("create queue: %w", err)
	}
	got, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: out.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return fmt.Errorf("get queue ARN: %w", err)
	}
	r.ref = aws.ToString(out.QueueUrl)
	r.attrs = map[string]string{"Arn": got.Attributes["QueueArn"], "QueueName": r.Name, "QueueUrl": r.ref}
	return nil
}

func removeQueue(ctx context.Context, c *Clients, r StackResource) (bool, error) {
	url, err := c.SQS.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: &r.Name})
	if err != nil {
		return gone(err)
	}
	_, err = c.SQS.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: url.QueueUrl})
	return gone(err)
}

func queueExists(ctx context.Context, c *Clients, r StackResource) (bool, error) {
	_, err := c.SQS.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: &r.Name})
	return found(err)
}
