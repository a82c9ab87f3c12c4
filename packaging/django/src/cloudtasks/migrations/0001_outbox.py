from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
    ]

    operations = [
        migrations.CreateModel(
            name='TaskRecord',
            fields=[
                ('id', models.CharField(editable=False, max_length=64, primary_key=True, serialize=False)),
                ('task_path', models.CharField(max_length=255)),
                ('backend', models.CharField(max_length=100)),
                ('queue_name', models.CharField(max_length=100)),
                ('priority', models.IntegerField(default=0)),
                ('run_after', models.DateTimeField(blank=True, null=True)),
                ('args', models.JSONField(default=list)),
                ('kwargs', models.JSONField(default=dict)),
                ('enqueued_at', models.DateTimeField()),
                ('status', models.CharField(choices=[('READY', 'Ready'), ('RUNNING', 'Running'), ('FAILED', 'Failed'), ('SUCCESSFUL', 'Successful')], default='READY', max_length=10)),
                ('generation', models.PositiveIntegerField(default=0)),
                ('sent_at', models.DateTimeField(blank=True, null=True)),
                ('check_after', models.DateTimeField()),
                ('send_failures', models.PositiveIntegerField(default=0)),
                ('send_error', models.TextField(blank=True)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('last_attempted_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'verbose_name': 'task',
                'indexes': [models.Index(condition=models.Q(('status__in', ['READY', 'RUNNING'])), fields=['check_after'], name='cloudtasks_unfinished_idx')],
            },
        ),
    ]
