import django.db.models.fields.json
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('cloudtasks', '0002_run_records'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='taskrecord',
            index=models.Index(condition=models.Q(('status', 'READY')), fields=['backend', 'queue_name', 'enqueued_at', 'id'], name='cloudtasks_ready_idx'),
        ),
        migrations.AddIndex(
            model_name='taskrecord',
            index=models.Index(django.db.models.fields.json.KeyTextTransform('worker_id', django.db.models.fields.json.KeyTransform('-1', 'attempts')), name='cloudtasks_last_worker_idx'),
        ),
    ]
