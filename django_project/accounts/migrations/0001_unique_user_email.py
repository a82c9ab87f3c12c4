"""An email address signs up once: a unique index on auth_user's email, ignoring case.

Django's User model does not make email unique, and the form's check alone lets two
concurrent sign-ups through. Empty addresses (users made with createsuperuser) are left
out. PostgreSQL and SQLite both support indexes on expressions with a WHERE clause.
"""

from django.db import migrations

INDEX = "accounts_user_email_unique"


class Migration(migrations.Migration):
    dependencies = [("auth", "0012_alter_user_first_name_max_length")]

    operations = [
        migrations.RunSQL(
            sql=f"CREATE UNIQUE INDEX {INDEX} ON auth_user (LOWER(email)) WHERE email <> ''",
            reverse_sql=f"DROP INDEX {INDEX}",
        ),
    ]
