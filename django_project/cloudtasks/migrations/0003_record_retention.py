from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('cloudtasks', '0002_run_records'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='taskrecord',
            index=models.Index(fields=['queue_name', '-enqueued_at'], name='cloudtasks_queue_idx'),
        ),
        migrations.AddIndex(
            model_name='taskrecord',
            index=models.Index(fields=['task_path'], name='cloudtasks_task_path_idx', opclasses=['varchar_pattern_ops']),
        ),
        migrations.AddIndex(
            model_name='taskrecord',
            index=models.Index(condition=models.Q(('status__in', ('SUCCESSFUL', 'FAILED'))), fields=['backend', 'finished_at'], name='cloudtasks_finished_idx'),
        ),
    ]
