"""The HQ v1 entity types the sandbox serves: their properties (names and types from the v1 Swagger
definitions) and their navigation properties (what ``$expand`` and ``$filter`` paths may follow).

Records are stored as JSON objects whose keys are the HQ property names. Keys starting with ``_``
are sandbox-internal (rate-rule links, billed state, ...) and never leave the server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

Record = dict[str, Any]

# Property types, as the query layer needs them (OData Edm types, simplified).
INT, FLOAT, BOOL, STR, DATETIME, DATE = "int", "float", "bool", "str", "datetime", "date"

AUDIT: dict[str, str] = {
    "Id": INT,
    "CreatedBy": INT,
    "UpdatedBy": INT,
    "CreatedOn": DATETIME,
    "UpdatedOn": DATETIME,
}


class View(Protocol):
    """What navigation resolvers need from a tenant's data (see ``data.TenantData``)."""

    def by_id(self, kind: str) -> dict[int, Record]: ...

    def index(self, kind: str, key: str) -> dict[Any, list[Record]]: ...

    def custom_fields(self, category: str, entity_id: int) -> list[Record]: ...


Resolver = Callable[[View, Record], Any]


@dataclass(frozen=True)
class Nav:
    """A navigation property: ``target`` entity type, collection or single, and how to find it."""

    target: str
    many: bool
    resolve: Resolver


@dataclass(frozen=True)
class EntityType:
    """One HQ entity type: its stored kind, scalar properties (in output order) and navigations."""

    name: str
    kind: str | None
    properties: dict[str, str]
    navs: dict[str, Nav] = field(default_factory=dict)

    def has(self, name: str) -> bool:
        """Returns whether ``name`` is a scalar or navigation property of this type."""
        return name in self.properties or name in self.navs


def _props(spec: str, **types: str) -> dict[str, str]:
    """Builds a property map from a space-separated list (default type ``str``) plus the audit fields."""
    props = {name: types.get(name, STR) for name in spec.split()}
    props.update(AUDIT)
    return props


# -- resolvers -------------------------------------------------------------------------------------
def ref(kind: str, fk: str) -> Resolver:
    """A single-valued navigation through the foreign key ``fk``."""
    return lambda view, rec: view.by_id(kind).get(rec.get(fk)) if rec.get(fk) is not None else None


def children(kind: str, fk: str) -> Resolver:
    """A collection navigation: the records of ``kind`` whose ``fk`` is this record's Id."""
    return lambda view, rec: view.index(kind, fk).get(rec["Id"], [])


def embedded(key: str) -> Resolver:
    """A navigation stored inside the record under an internal key."""
    return lambda view, rec: rec.get(key)


def id_list(kind: str, key: str) -> Resolver:
    """A collection navigation through a list of ids stored in the record."""

    def resolve(view: View, rec: Record) -> list[Record]:
        table = view.by_id(kind)
        return [table[i] for i in rec.get(key, []) if i in table]

    return resolve


def custom_fields(category: str) -> Resolver:
    """The ``CustomFields`` navigation of an entity of a custom-field category."""
    return lambda view, rec: view.custom_fields(category, rec["Id"])


# -- entity types ----------------------------------------------------------------------------------
ENTITY_TYPES: dict[str, EntityType] = {}


def _register(*types: EntityType) -> None:
    for etype in types:
        ENTITY_TYPES[etype.name] = etype


_register(
    EntityType(
        "User",
        "Users",
        _props(
            "FirstName LastName UserName EMailWork Salutation Title EmployeeNumber Department "
            "BirthDate FederalState Country BasicLoadInHours EntryDate LeavingDate "
            "PhoneLandlinePrivate PhoneLandlineWork PhoneMobilePrivate PhoneMobileWork",
            BirthDate=DATE,
            EntryDate=DATE,
            LeavingDate=DATE,
            BasicLoadInHours=FLOAT,
        ),
        {
            "CustomFields": Nav("CustomField", True, custom_fields("User")),
            "Absences": Nav("UserAbsence", True, children("UserAbsences", "UserId")),
            "Reportings": Nav("UserReporting", True, children("UserReportings", "UserId")),
            "ProjectMembers": Nav("ProjectMember", True, children("ProjectMembers", "UserId")),
        },
    ),
    EntityType(
        "Me",
        "Users",
        _props("FirstName LastName UserName EMailWork Salutation Title BirthDate", BirthDate=DATE),
    ),
    EntityType(
        "CustomField",
        None,
        _props("Name Value Type"),
    ),
    EntityType(
        "CustomFieldOption",
        None,
        _props("OptionValue"),
    ),
    EntityType(
        "CustomFieldDefinition",
        "CustomFieldDefinitions",
        _props(
            "Name Description Order RightLevelRead RightLevelWrite IsRequired TypeText Category",
            Order=INT,
            RightLevelRead=INT,
            RightLevelWrite=INT,
            IsRequired=BOOL,
        ),
        {"Options": Nav("CustomFieldOption", True, embedded("_options"))},
    ),
    EntityType(
        "CompanyAddress",
        None,
        _props(
            "City Street HouseNumber ZipCode AddressLine2 Description Country Phone Fax Email "
            "Website IsStandard DefaultForDocumentType",
            IsStandard=BOOL,
        ),
    ),
    EntityType("CompanyType", "CompanyTypes", _props("Name")),
    EntityType(
        "CompanyTypeOfCompany",
        None,
        _props("Name Number CompanyId", CompanyId=INT),
    ),
    EntityType(
        "Company",
        "Companies",
        _props(
            "Name IndustrialSector Description IBAN BIC DebitorNumber CreditorNumber TaxId "
            "DefaultDeliveryConditionId DefaultPaymentConditionId",
            DebitorNumber=INT,
            CreditorNumber=INT,
            DefaultDeliveryConditionId=INT,
            DefaultPaymentConditionId=INT,
        ),
        {
            "DefaultAddress": Nav("CompanyAddress", False, embedded("_default_address")),
            "Addresses": Nav("CompanyAddress", True, embedded("_addresses")),
            "CustomFields": Nav("CustomField", True, custom_fields("Company")),
            "CompanyTypes": Nav("CompanyTypeOfCompany", True, embedded("_company_types")),
        },
    ),
    EntityType("ProjectRole", "ProjectRoles", _props("Name IsRequired", IsRequired=BOOL)),
    EntityType("ProjectStatus", "ProjectStatuses", _props("Name IsInProgress", IsInProgress=BOOL)),
    EntityType(
        "ProjectTemplate",
        "ProjectTemplates",
        _props("Name IsInternal", IsInternal=BOOL),
        {"ProjectStatus": Nav("ProjectStatus", True, id_list("ProjectStatuses", "_status_ids"))},
    ),
    EntityType(
        "Project",
        "Projects",
        _props(
            "Number Name Status PlannedStartDate PlannedEndDate StartDate EndDate AworkSyncId "
            "ProjectTemplateId ProjectStatusId CompanyId LeadId InvoiceAddressId DeliveryAddressId "
            "ResponsibleUserId",
            PlannedStartDate=DATE,
            PlannedEndDate=DATE,
            StartDate=DATE,
            EndDate=DATE,
            ProjectTemplateId=INT,
            ProjectStatusId=INT,
            CompanyId=INT,
            LeadId=INT,
            InvoiceAddressId=INT,
            DeliveryAddressId=INT,
            ResponsibleUserId=INT,
        ),
        {
            "ProjectTemplate": Nav("ProjectTemplate", False, ref("ProjectTemplates", "ProjectTemplateId")),
            "ProjectStatus": Nav("ProjectStatus", False, ref("ProjectStatuses", "ProjectStatusId")),
            "Company": Nav("Company", False, ref("Companies", "CompanyId")),
            "ResponsibleUser": Nav("User", False, ref("Users", "ResponsibleUserId")),
            "CustomFields": Nav("CustomField", True, custom_fields("Project")),
            "Members": Nav("ProjectMember", True, children("ProjectMembers", "ProjectId")),
            "Reportings": Nav("UserReporting", True, children("UserReportings", "ProjectId")),
        },
    ),
    EntityType(
        "ProjectMember",
        "ProjectMembers",
        _props(
            "UserId ProjectRoleId ProjectId ExternalChargeRateValue ExternalChargeRateCurrency",
            UserId=INT,
            ProjectRoleId=INT,
            ProjectId=INT,
            ExternalChargeRateValue=FLOAT,
        ),
        {
            "ProjectRole": Nav("ProjectRole", False, ref("ProjectRoles", "ProjectRoleId")),
            "Project": Nav("Project", False, ref("Projects", "ProjectId")),
            "User": Nav("User", False, ref("Users", "UserId")),
        },
    ),
    EntityType(
        "TaskTypeStatus",
        "TaskTypeStatuses",
        _props("IsFinishedState Name TaskTypeId", IsFinishedState=BOOL, TaskTypeId=INT),
    ),
    EntityType(
        "TaskType",
        "TaskTypes",
        _props("Name IsDefault", IsDefault=BOOL),
        {"TaskTypeStatus": Nav("TaskTypeStatus", True, children("TaskTypeStatuses", "TaskTypeId"))},
    ),
    EntityType(
        "Task",
        "ProjectTasks",
        _props(
            "Name Order ParentId ProjectId IsDone PlannedEffort PercentDone Description StartOn EndOn "
            "TaskTypeId TaskTypeStatusId IsAppointment SyncId Sync JiraProjectName Remaining "
            "ProjectBudgetId ChargeType ChargeValue",
            Order=INT,
            ParentId=INT,
            ProjectId=INT,
            IsDone=BOOL,
            PlannedEffort=FLOAT,
            PercentDone=INT,
            StartOn=DATETIME,
            EndOn=DATETIME,
            TaskTypeId=INT,
            TaskTypeStatusId=INT,
            IsAppointment=BOOL,
            Sync=BOOL,
            Remaining=FLOAT,
            ProjectBudgetId=INT,
            ChargeValue=FLOAT,
        ),
        {
            "Project": Nav("Project", False, ref("Projects", "ProjectId")),
            "TaskType": Nav("TaskType", False, ref("TaskTypes", "TaskTypeId")),
            "TaskTypeStatus": Nav("TaskTypeStatus", False, ref("TaskTypeStatuses", "TaskTypeStatusId")),
            "UserReportings": Nav("UserReporting", True, children("UserReportings", "TaskId")),
        },
    ),
    EntityType(
        "UserReporting",
        "UserReportings",
        _props(
            "Note Duration UserId ChargeRateValue InternalChargeRateValue IsApproved StartOn "
            "BreakDuration ProjectId TaskId CurrencyInternalChargeRateValue CurrencyChargeRateValue",
            Duration=INT,
            UserId=INT,
            ChargeRateValue=FLOAT,
            InternalChargeRateValue=FLOAT,
            IsApproved=BOOL,
            StartOn=DATETIME,
            BreakDuration=INT,
            ProjectId=INT,
            TaskId=INT,
        ),
        {
            "User": Nav("User", False, ref("Users", "UserId")),
            "Project": Nav("Project", False, ref("Projects", "ProjectId")),
            "Task": Nav("Task", False, ref("ProjectTasks", "TaskId")),
        },
    ),
    EntityType(
        "UserAbsence",
        "UserAbsences",
        # Start/End are compared as date-times; day-based types store local wall-clock values.
        _props(
            "Start End Type Note UserId IsApproved MissedDays",
            Start=DATETIME,
            End=DATETIME,
            UserId=INT,
            IsApproved=BOOL,
            MissedDays=FLOAT,
        ),
        {"User": Nav("User", False, ref("Users", "UserId"))},
    ),
    EntityType(
        "DocumentPosition",
        "DocumentPositions",
        _props(
            "IsOptional Tax Price Discount Margin ExcludeFromEarlyPayment TotalPrice TotalUnitPrice "
            "TotalVat Interval Text Unit Type Order ArticleId ProjectId Amount ProjectBudgetId "
            "CostTypeId BookingAccount CostCenter1 CostCenter2 DocumentId",
            IsOptional=BOOL,
            Tax=FLOAT,
            Price=FLOAT,
            Discount=FLOAT,
            Margin=FLOAT,
            ExcludeFromEarlyPayment=BOOL,
            TotalPrice=FLOAT,
            TotalUnitPrice=FLOAT,
            TotalVat=FLOAT,
            Order=INT,
            ArticleId=INT,
            ProjectId=INT,
            Amount=FLOAT,
            ProjectBudgetId=INT,
            CostTypeId=INT,
            DocumentId=INT,
        ),
        {
            "CustomFields": Nav("CustomField", True, custom_fields("DocumentPosition")),
            "UserReportings": Nav("UserReporting", True, id_list("UserReportings", "_reporting_ids")),
        },
    ),
)

_DOCUMENT_COMMON = (
    "Status Currency ExchangeRate DeliveryDate PaymentConditionId DeliveryConditionId DiscountType "
    "Discount Margin TaxOption ServiceOption NetTotal GrossTotal VatTotal PaidTotal Type AddressText "
    "CompanyAddressId Subject CalculatedSubject Header Footer DocumentTemplateId Number "
    "ContactPersonId CompanyId InternalContactPersonId LeadId SyncId ProjectId Note "
    "CompanyPurchaseOrderNumber Language"
)
_DOCUMENT_TYPES = dict(
    ExchangeRate=FLOAT,
    DeliveryDate=DATE,
    PaymentConditionId=INT,
    DeliveryConditionId=INT,
    Discount=FLOAT,
    Margin=FLOAT,
    NetTotal=FLOAT,
    GrossTotal=FLOAT,
    VatTotal=FLOAT,
    PaidTotal=FLOAT,
    CompanyAddressId=INT,
    DocumentTemplateId=INT,
    ContactPersonId=INT,
    CompanyId=INT,
    InternalContactPersonId=INT,
    LeadId=INT,
    ProjectId=INT,
)
_DOCUMENT_NAVS = {
    "Positions": Nav("DocumentPosition", True, children("DocumentPositions", "DocumentId")),
    "Company": Nav("Company", False, ref("Companies", "CompanyId")),
    "Project": Nav("Project", False, ref("Projects", "ProjectId")),
}
_register(
    EntityType(
        "Quotation",
        "Quotations",
        _props(
            "QuotationDate ValidUntilDate " + _DOCUMENT_COMMON,
            QuotationDate=DATE,
            ValidUntilDate=DATE,
            **_DOCUMENT_TYPES,
        ),
        dict(_DOCUMENT_NAVS),
    ),
    EntityType(
        "Invoice",
        "Invoices",
        _props(
            "InvoiceDate PaymentDate DueDate BookingDate " + _DOCUMENT_COMMON,
            InvoiceDate=DATE,
            PaymentDate=DATE,
            DueDate=DATE,
            BookingDate=DATE,
            **_DOCUMENT_TYPES,
        ),
        dict(_DOCUMENT_NAVS),
    ),
)


def entity(name: str) -> EntityType:
    """Returns the entity type called ``name``."""
    return ENTITY_TYPES[name]


def blank(etype: EntityType) -> Record:
    """Returns a record of ``etype`` with every scalar property set to null."""
    return {name: None for name in etype.properties}


ABSENCE_TYPES = (
    "Vacation",
    "PrivateAbsence",
    "CompanyAbsence",
    "SickLeave",
    "SickLeaveUnpaid",
    "OvertimeCompensation",
    "ProfessionalEducation",
    "TradeSchool",
    "SpecialLeave",
    "ParentalLeave",
    "VacationUnpaid",
    "RemoteWork",
    "ChildSick",
    "MaternityLeave",
)
HOUR_BASED_ABSENCE_TYPES = frozenset({"CompanyAbsence", "PrivateAbsence"})
FULL_DAY_ONLY_ABSENCE_TYPES = frozenset({"OvertimeCompensation", "MaternityLeave", "ParentalLeave"})

CUSTOM_FIELD_TYPES = (
    "Text",
    "TextMultiline",
    "Date",
    "Dropdown",
    "DropdownCheckbox",
    "Boolean",
    "Upload",
    "UserSelection",
    "CompanySelection",
    "ProjectSelection",
    "ResourceSelection",
    "ContactSelection",
    "Link",
    "Float",
    "Integer",
    "Token",
    "NumericText",
)
CUSTOM_FIELD_CATEGORIES = (
    "Undefined",
    "Contact",
    "ContactHistory",
    "User",
    "Company",
    "Lead",
    "Article",
    "ArticleVersion",
    "Project",
    "OrganisedEvent",
    "DocumentPosition",
)
QUOTATION_STATUSES = ("Draft", "WaitingForReview", "Sent", "Accepted", "Declined", "Canceled", "Share1", "Share2")
INVOICE_STATUSES = (
    "Draft",
    "WaitingForReview",
    "Sent",
    "PartlyPaid",
    "CompletelyPaid",
    "Canceled",
    "WaitingForApproval",
    "Approved",
)
POSITION_TYPES = (
    "Article",
    "Freetext",
    "OpenPosition",
    "UserReporting",
    "ProjectInvoice",
    "ProjectArticle",
    "ProjectPlan",
    "Subtotal",
    "PositionGroup",
    "GroupHeader",
    "Textline",
)
# Positions that carry no price of their own (structure and text).
STRUCTURAL_POSITION_TYPES = frozenset({"Subtotal", "PositionGroup", "GroupHeader", "Textline"})
DISCOUNT_TYPES = ("Percent", "NetValue", "NotSet")
TAX_OPTIONS = (
    "VatApplicable",
    "FreeThirdCountryTerritory",
    "FreeEuropeanUnionWithVatId",
    "FreeEuropeanUnionNoVatId",
    "Inverse",
    "IntraCommunityDelivery",
    "ExportDelivery",
    "FreeOther",
    "FreeYouthSupport",
)
CHARGE_TYPES = ("Fixed", "Variable", "Capped", "NotChargeable", "NotSet")
