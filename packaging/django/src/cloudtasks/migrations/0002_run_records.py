from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('cloudtasks', '0001_outbox'),
    ]

    operations = [
        migrations.AddField(
            model_name='taskrecord',
            name='attempts',
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name='taskrecord',
            name='lease_expires_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='taskrecord',
            name='lease_token',
            field=models.CharField(blank=True, max_length=32),
        ),
        migrations.AddField(
            model_name='taskrecord',
            name='return_value',
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name='taskrecord',
            index=models.Index(fields=['status', '-enqueued_at'], name='cloudtasks_status_idx'),
        ),
        migrations.AddIndex(
            model_name='taskrecord',
            index=models.Index(fields=['-enqueued_at'], name='cloudtasks_enqueued_idx'),
        ),
    ]
