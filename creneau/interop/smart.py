"""The vocabulary of SMART Scheduling Links (https://github.com/smart-on-fhir/smart-scheduling-links):
the extension URLs and codings both our publisher writes and our importer reads.

Nothing here touches the database.
"""

REGISTRY = "http://fhir-registry.smarthealthit.org"
BOOKING_DEEP_LINK = f"{REGISTRY}/StructureDefinition/booking-deep-link"
BOOKING_PHONE = f"{REGISTRY}/StructureDefinition/booking-phone"
SLOT_CAPACITY = f"{REGISTRY}/StructureDefinition/slot-capacity"
VACCINE_PRODUCT = f"{REGISTRY}/StructureDefinition/vaccine-product"
VACCINE_DOSE = f"{REGISTRY}/StructureDefinition/vaccine-dose"

SERVICE_TYPE = [
    {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/service-type",
                "code": "57",
                "display": "Immunization",
            },
            {
                "system": f"{REGISTRY}/CodeSystem/service-type",
                "code": "covid19-immunization",
                "display": "COVID-19 Immunization Appointment",
            },
        ]
    }
]

CVX = "http://hl7.org/fhir/sid/cvx"
# CVX codes of the products we know (CDC's list): the code other finders read. A product
# without one is named in our own code system (`vaccine_system`).
CVX_BY_VACCINE = {"spikevax": "207", "comirnaty": "208", "vaxzevria": "210", "janssen": "212"}
VACCINE_BY_CVX = {cvx: code for code, cvx in CVX_BY_VACCINE.items()}
# The WHO's ATC classification (a product's class: J07BX03, COVID-19 vaccines) and the EU's
# register of medicinal products (a product's authorisation number, EU/1/20/1528), as the
# EU Digital COVID Certificate's value sets name them.
ATC = "http://www.whocc.no/atc"
EU_REGISTER = "https://ec.europa.eu/health/documents/community-register/html/"

# The identifier systems of a Location: the official file's id ("gid" of data.gouv.fr's
# "Lieux de vaccination contre la Covid-19") and FINESS (the French register of health
# establishments, by its OID).
OFFICIAL_ID_SYSTEM = "https://www.data.gouv.fr/datasets/lieux-de-vaccination-contre-la-covid-19"
FINESS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.2"


def site_system(public_url: str) -> str:
    """Our own ids of sites, named by the address of the platform that gives them."""
    return f"{public_url}/sites"


def vaccine_system(public_url: str) -> str:
    return f"{public_url}/vaccines"


def extension_value(resource: dict, url: str):
    """The value of the first extension of `resource` with that URL, or None."""
    for extension in resource.get("extension") or ():
        if isinstance(extension, dict) and extension.get("url") == url:
            for key, value in extension.items():
                if key.startswith("value"):
                    return value
    return None
