package findings

import (
	"strconv"

	"github.com/rotation-audit/rotation-audit/internal/tables"
)

// OCSFVersion is the OCSF schema version of every finding: the one Security
// Hub reads.
const OCSFVersion = "1.6.0"

// The OCSF Compliance Finding class, in the Findings category; its type_uid
// is class_uid*100 + activity_id.
const (
	CategoryFindings  = 2
	ClassCompliance   = 2003
	activityCreate    = 1
	activityUpdate    = 2
	activityClose     = 3
	severityInfo      = 1
	severityMedium    = 3
	statusNew         = 1
	statusResolved    = 4
	statusArchived    = 5
	compliancePass    = 1
	complianceWarning = 2
	complianceFail    = 3
)

// ComplianceFinding is an OCSF 1.6.0 Compliance Finding (class_uid 2003)
// with the cloud profile: the attributes this product fills, written by
// hand for this one class (OCSF modules for Go cover every class, or an
// older schema).
type ComplianceFinding struct {
	ActivityID   int    `json:"activity_id"`
	ActivityName string `json:"activity_name"`
	CategoryUID  int    `json:"category_uid"`
	CategoryName string `json:"category_name"`
	ClassUID     int    `json:"class_uid"`
	ClassName    string `json:"class_name"`
	TypeUID      int    `json:"type_uid"`
	TypeName     string `json:"type_name"`
	// Time is when the run judged the secret, in Unix milliseconds.
	Time        int64             `json:"time"`
	SeverityID  int               `json:"severity_id"`
	Severity    string            `json:"severity"`
	StatusID    int               `json:"status_id"`
	Status      string            `json:"status"`
	Message     string            `json:"message"`
	Metadata    OCSFMetadata      `json:"metadata"`
	FindingInfo OCSFFindingInfo   `json:"finding_info"`
	Compliance  OCSFCompliance    `json:"compliance"`
	Resources   []OCSFResource    `json:"resources"`
	Cloud       OCSFCloud         `json:"cloud"`
	Unmapped    map[string]string `json:"unmapped,omitempty"`
}

// OCSFMetadata is the event's metadata: who produced it, in which schema.
type OCSFMetadata struct {
	Product  OCSFProduct `json:"product"`
	Version  string      `json:"version"`
	Profiles []string    `json:"profiles"`
}

// OCSFProduct is the product that reports the finding.
type OCSFProduct struct {
	Name       string `json:"name"`
	VendorName string `json:"vendor_name"`
}

// OCSFFindingInfo identifies the finding: its uid is the ASFF Id, so the
// two formats name the same finding.
type OCSFFindingInfo struct {
	UID           string   `json:"uid"`
	Title         string   `json:"title"`
	Desc          string   `json:"desc"`
	Types         []string `json:"types"`
	CreatedTime   int64    `json:"created_time"`
	FirstSeenTime int64    `json:"first_seen_time"`
	LastSeenTime  int64    `json:"last_seen_time"`
	ModifiedTime  int64    `json:"modified_time"`
}

// OCSFCompliance is the check and its result.
type OCSFCompliance struct {
	Control           string         `json:"control"`
	ControlParameters []OCSFKeyValue `json:"control_parameters"`
	StatusID          int            `json:"status_id"`
	Status            string         `json:"status"`
	StatusDetail      string         `json:"status_detail,omitempty"`
}

// OCSFKeyValue is OCSF's key_value_object.
type OCSFKeyValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// OCSFResource is a resource_details object: the secret.
type OCSFResource struct {
	UID            string `json:"uid"`
	Name           string `json:"name"`
	Type           string `json:"type"`
	Region         string `json:"region"`
	CloudPartition string `json:"cloud_partition,omitempty"`
}

// OCSFCloud is where the secret lives.
type OCSFCloud struct {
	Provider string      `json:"provider"`
	Account  OCSFAccount `json:"account"`
	Region   string      `json:"region"`
}

// OCSFAccount is the cloud account, an AWS account (type_id 10).
type OCSFAccount struct {
	UID    string `json:"uid"`
	TypeID int    `json:"type_id"`
	Type   string `json:"type"`
}

// Control names the check in the compliance object.
const Control = "rotation-audit: secret value rotated within max_age_days"

// OCSF is the secret's OCSF Compliance Finding. Its activity is Create for
// a secret new since the previous run, Close for a gone one, Update
// otherwise; its status New while the secret needs rotation, Resolved
// when it does not, Archived when it is gone; its compliance Fail, Pass,
// or Warning (no result) for a gone secret.
func OCSF(s Secret) ComplianceFinding {
	activity, activityName := activityUpdate, "Update"
	switch {
	case s.Gone():
		activity, activityName = activityClose, "Close"
	case s.Change == tables.ChangeNew || (s.Change == "" && s.Created().Equal(s.CheckedAt)):
		activity, activityName = activityCreate, "Create"
	}
	severity, severityName := severityInfo, "Informational"
	status, statusName := statusResolved, "Resolved"
	compliance, complianceName := compliancePass, "Pass"
	detail := ""
	switch {
	case s.Gone():
		status, statusName = statusArchived, "Archived"
		compliance, complianceName = complianceWarning, "Warning"
		detail = "the secret is no longer audited"
	case s.Flagged:
		severity, severityName = severityMedium, "Medium"
		status, statusName = statusNew, "New"
		compliance, complianceName = complianceFail, "Fail"
	}
	created, checked := s.Created().UnixMilli(), s.CheckedAt.UnixMilli()
	f := ComplianceFinding{
		ActivityID: activity, ActivityName: activityName,
		CategoryUID: CategoryFindings, CategoryName: "Findings",
		ClassUID: ClassCompliance, ClassName: "Compliance Finding",
		TypeUID: ClassCompliance*100 + activity, TypeName: "Compliance Finding: " + activityName,
		Time:       checked,
		SeverityID: severity, Severity: severityName,
		StatusID: status, Status: statusName,
		Message: s.Description(),
		Metadata: OCSFMetadata{
			Product:  OCSFProduct{Name: "rotation-audit", VendorName: "rotation-audit"},
			Version:  OCSFVersion,
			Profiles: []string{"cloud"},
		},
		FindingInfo: OCSFFindingInfo{
			UID: ID(s.ARN), Title: s.Title(), Desc: s.Description(), Types: []string{FindingType},
			CreatedTime: created, FirstSeenTime: created, LastSeenTime: checked, ModifiedTime: checked,
		},
		Compliance: OCSFCompliance{
			Control:           Control,
			ControlParameters: []OCSFKeyValue{{Name: "max_age_days", Value: strconv.Itoa(s.MaxAgeDays)}},
			StatusID:          compliance, Status: complianceName, StatusDetail: detail,
		},
		Resources: []OCSFResource{{UID: s.ARN, Name: s.Name, Type: ResourceType, Region: s.Region, CloudPartition: s.Partition}},
		Cloud:     OCSFCloud{Provider: "AWS", Account: OCSFAccount{UID: s.AccountID, TypeID: 10, Type: "AWS Account"}, Region: s.Region},
	}
	if s.Reason != "" {
		f.Unmapped = map[string]string{"reason": s.Reason}
	}
	return f
}
