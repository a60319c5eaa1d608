package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/rotation-audit/rotation-audit/internal/localcloud/cfn"
)

func deploySecret(ctx context.Context, d *Deployer, r *StackResource, p map[string]any) error {
	sm := d.Clients.SecretsManager
	desc, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &r.Name})
	switch {
	case err == nil && desc.DeletedDate == nil:
		// Like CloudFormation, an update keeps the generated value, and it
		// changes only what differs: any edit moves LastChangedDate, the
		// very date the rotation check reads. Tags are set at creation.
		if want := optString(p["Description"]); want != nil && *want != aws.ToString(desc.Description) {
			if _, err := sm.UpdateSecret(ctx, &secretsmanager.UpdateSecretInput{SecretId: &r.Name, Description: want}); err != nil {
				return fmt.Errorf("update secret: %w", err)
			}
		}
		r.Updated = true
		r.ref = aws.ToString(desc.ARN)
	case err == nil || isNotFound(err):
		if err == nil {
			// Scheduled for deletion (by hand, or by an endpoint that keeps
			// deleted secrets): its name is taken until it is gone, so it is
			// deleted for good and created anew, as a fresh stack would.
			if _, err := sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{
				SecretId: &r.Name, ForceDeleteWithoutRecovery: aws.Bool(true),
			}); err != nil {
				return fmt.Errorf("delete the secret pending deletion: %w", err)
			}
			r.note("%s: %s was scheduled for deletion; deleted it for good and created it anew", r.LogicalID, r.Name)
		}
		value, err := secretValue(ctx, sm, p)
		if err != nil {
			return err
		}
		var tags []smtypes.Tag
		if err := convert(p["Tags"], &tags); err != nil {
			return fmt.Errorf("property Tags: %w", err)
		}
		in := &secretsmanager.CreateSecretInput{
			Name:         &r.Name,
			Description:  optString(p["Description"]),
			KmsKeyId:     optString(p["KmsKeyId"]),
			SecretString: &value,
			Tags:         tags,
		}
		out, err := createSecret(ctx, sm, in)
		if err != nil {
			return fmt.Errorf("create secret: %w", err)
		}
		r.ref = aws.ToString(out.ARN)
	default:
		return fmt.Errorf("describe secret: %w", err)
	}
	r.attrs = map[string]string{"Id": r.ref}
	return nil
}

// createSecret creates a secret, retrying for a while when the name is
// still held by one being deleted: AWS deletes asynchronously, even without
// a recovery window.
func createSecret(ctx context.Context, sm *secretsmanager.Client, in *secretsmanager.CreateSecretInput) (*secretsmanager.CreateSecretOutput, error) {
	for delay := 100 * time.Millisecond; ; delay *= 2 {
		out, err := sm.CreateSecret(ctx, in)
		var invalid *smtypes.InvalidRequestException
		if err == nil || !errors.As(err, &invalid) || !strings.Contains(err.Error(), "deletion") || delay > 5*time.Second {
			return out, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
	}
}

// secretValue is SecretString, or a value generated with GetRandomPassword
// as CloudFormation does for GenerateSecretString.
func secretValue(ctx context.Context, sm *secretsmanager.Client, p map[string]any) (string, error) {
	gen, ok := p["GenerateSecretString"].(map[string]any)
	if !ok {
		if s, ok := p["SecretString"].(string); ok {
			return s, nil
		}
		return "", errors.New("needs SecretString or GenerateSecretString")
	}
	opts := maps.Clone(gen)
	template, key := cfn.String(opts["SecretStringTemplate"]), cfn.String(opts["GenerateStringKey"])
	delete(opts, "SecretStringTemplate")
	delete(opts, "GenerateStringKey")
	var in secretsmanager.GetRandomPasswordInput
	if err := convert(opts, &in); err != nil {
		return "", fmt.Errorf("property GenerateSecretString: %w", err)
	}
	out, err := sm.GetRandomPassword(ctx, &in)
	if err != nil {
		return "", fmt.Errorf("generate secret value: %w", err)
	}
	password := aws.ToString(out.RandomPassword)
	if template == "" {
		return password, nil
	}
	if key == "" {
		return "", errors.New("property GenerateSecretString: SecretStringTemplate needs GenerateStringKey")
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(template), &doc); err != nil {
		return "", fmt.Errorf("property GenerateSecretString: SecretStringTemplate is not a JSON object: %w", err)
	}
	doc[key] = password
	b, err := json.Marshal(doc)
	return string(b), err
}

func removeSecret(ctx context.Context, c *Clients, r StackResource) (bool, error) {
	// Some endpoints accept deleting a deleted secret again; ask first.
	there, err := secretExists(ctx, c, r)
	if err != nil || !there {
		return false, err
	}
	_, err = c.SecretsManager.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{
		SecretId: &r.Name, ForceDeleteWithoutRecovery: aws.Bool(true),
	})
	return gone(err)
}

// secretExists counts a secret scheduled for deletion as gone.
func secretExists(ctx context.Context, c *Clients, r StackResource) (bool, error) {
	desc, err := c.SecretsManager.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &r.Name})
	if err != nil {
		return found(err)
	}
	return desc.DeletedDate == nil, nil
}
