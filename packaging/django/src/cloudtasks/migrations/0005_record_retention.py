from django.db import migrations, models

# On PostgreSQL Django gives a CharField primary key a second index, for LIKE on it
# (varchar_pattern_ops). Nothing matches ids by pattern (the admin's search compares them
# exactly), so it only costs: about 70 MB per million records, and a write per insert
# (docs/performance.md). A later AlterField of `id` would build it again, as would this
# migration's reverse.
ID_PATTERN_INDEX = "cloudtasks_taskrecord_id_9f0f734e_like"


def drop_id_pattern_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'DROP INDEX IF EXISTS "{ID_PATTERN_INDEX}"')


def build_id_pattern_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{ID_PATTERN_INDEX}" ON "cloudtasks_taskrecord" ("id" varchar_pattern_ops)'
        )


class Migration(migrations.Migration):

    dependencies = [
        ('cloudtasks', '0004_json_text_readable_times'),
    ]

    operations = [
        # The admin's filters by queue and by task, and its search by task path's start.
        migrations.AddIndex(
            model_name='taskrecord',
            index=models.Index(fields=['queue_name', '-enqueued_at'], name='cloudtasks_queue_idx'),
        ),
        migrations.AddIndex(
            model_name='taskrecord',
            index=models.Index(fields=['task_path'], name='cloudtasks_task_path_idx', opclasses=['varchar_pattern_ops']),
        ),
        # The prune's.
        migrations.AddIndex(
            model_name='taskrecord',
            index=models.Index(condition=models.Q(('status__in', ('SUCCESSFUL', 'FAILED'))), fields=['backend', 'finished_at'], name='cloudtasks_finished_idx'),
        ),
        migrations.RunPython(drop_id_pattern_index, build_id_pattern_index, elidable=False),
    ]
