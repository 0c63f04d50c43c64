from ninja import NinjaAPI

api = NinjaAPI(title="Créneau API", version="1", urls_namespace="api-v1")
