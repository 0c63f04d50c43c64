from django.db import models


class Region(models.Model):
    code = models.CharField(max_length=3, primary_key=True)
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Department(models.Model):
    code = models.CharField(max_length=3, primary_key=True)
    name = models.CharField(max_length=100)
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="departments")
    population = models.PositiveIntegerField(default=0)
    # Sessions are entered in local time: Réunion's 9 a.m. is not Paris's.
    timezone = models.CharField(max_length=40, default="Europe/Paris")

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Commune(models.Model):
    """A current commune or a municipal arrondissement (Paris, Lyon, Marseille)."""

    insee_code = models.CharField(max_length=5, primary_key=True)
    name = models.CharField(max_length=100)
    # Accent-, case- and punctuation-free form of the name, for lookups.
    search_name = models.CharField(max_length=100, db_index=True)
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="communes")
    population = models.PositiveIntegerField(default=0)
    latitude = models.FloatField()
    longitude = models.FloatField()

    class Meta:
        ordering = ["insee_code"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(latitude__gte=-90, latitude__lte=90)
                & models.Q(longitude__gte=-180, longitude__lte=180),
                name="commune_position_on_earth",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.department_id})"


class PostalCode(models.Model):
    code = models.CharField(max_length=5, db_index=True)
    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="postal_codes")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["code", "commune"], name="postal_code_commune_unique")
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.commune_id}"
