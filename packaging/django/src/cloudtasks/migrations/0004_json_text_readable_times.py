"""Arguments and return values as JSON text, and times every record can be read with.

On PostgreSQL the jsonb columns become text holding the same JSON (numbers jsonb had
already normalised stay as they are: there is no way back to what was enqueued). Rows
an earlier version wrote with a time Python cannot read are repaired (cloudtasks.operations.repair).
"""

from django.db import migrations

import cloudtasks.fields


def repair_times(apps, schema_editor):
    from cloudtasks.operations.repair import repair_times

    repair_times(apps.get_model("cloudtasks", "TaskRecord").objects.all())


class Migration(migrations.Migration):

    dependencies = [
        ("cloudtasks", "0003_job_executions"),
    ]

    operations = [
        migrations.AlterField(
            model_name="taskrecord",
            name="args",
            field=cloudtasks.fields.JsonTextField(default=list),
        ),
        migrations.AlterField(
            model_name="taskrecord",
            name="kwargs",
            field=cloudtasks.fields.JsonTextField(default=dict),
        ),
        migrations.AlterField(
            model_name="taskrecord",
            name="return_value",
            field=cloudtasks.fields.JsonTextField(blank=True, null=True),
        ),
        migrations.RunPython(repair_times, migrations.RunPython.noop),
    ]
